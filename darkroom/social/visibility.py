"""Who may see whom: blocks, private accounts and follows, in one place for every read.

Rules (docs/social.md, "Visibility"): a block either way hides each account from the other
entirely; a public account's posts are visible to everyone else, signed in or not; a private
account's posts, media, follower lists and comments only to itself, its active followers and
admins. What a viewer may not see answers exactly as if it did not exist.
"""

from __future__ import annotations

import sqlalchemy as sa

from darkroom.social import relations
from darkroom.social.relations import Relations
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import blocks, follows

__all__ = [
    "author_visible_clause",
    "blocked_between",
    "can_view",
    "visible_authors",
    "visible_clause",
    "visible_given",
]


def blocked_between(conn: sa.Connection, a: str, b: str) -> bool:
    """Whether either account blocks the other."""
    query = sa.select(sa.literal(1)).where(
        sa.or_(
            sa.and_(blocks.c.blocker_id == a, blocks.c.blocked_id == b),
            sa.and_(blocks.c.blocker_id == b, blocks.c.blocked_id == a),
        )
    )
    return conn.execute(query.limit(1)).first() is not None


def can_view(conn: sa.Connection, viewer: Viewer | None, author_id: str, *, author_private: bool) -> bool:
    """Whether ``viewer`` may see the content of ``author_id`` (an account known to exist)."""
    return author_id in visible_authors(conn, viewer, {author_id: author_private})


def visible_authors(conn: sa.Connection, viewer: Viewer | None, authors: dict[str, bool]) -> set[str]:
    """Of ``authors`` (id → private), those ``viewer`` may see, in at most one query."""
    if not authors or viewer is None or viewer.admin:
        return visible_given(viewer, authors, relations.NONE)
    return visible_given(viewer, authors, relations.load(conn, viewer.account_id, authors))


def visible_given(viewer: Viewer | None, authors: dict[str, bool], edges: Relations) -> set[str]:
    """Of ``authors`` (id → private), those ``viewer`` may see, given its ``edges`` to them (from
    :func:`darkroom.social.relations.load`, which batches them with other viewer fields)."""
    if viewer is None:
        return {a for a, private in authors.items() if not private}
    if viewer.admin:
        return set(authors)
    me, hidden = viewer.account_id, edges.hidden
    return {
        a for a, private in authors.items() if a == me or (a not in hidden and (not private or a in edges.following))
    }


def visible_clause(
    viewer: Viewer | None, author_id: sa.ColumnElement[str], author_private: sa.ColumnElement[bool]
) -> sa.ColumnElement[bool]:
    """The same rule as :func:`visible_authors` as a SQL condition on a query's author columns, for
    any reader (anonymous, admin or not), for lists that must filter before ``LIMIT`` (a hashtag
    page) rather than after."""
    if viewer is None:
        return sa.not_(author_private)
    if viewer.admin:
        return sa.true()
    return author_visible_clause(viewer.account_id, author_id, author_private)


def author_visible_clause(
    viewer_id: str | sa.ColumnElement[str], author_id: sa.ColumnElement[str], author_private: sa.ColumnElement[bool]
) -> sa.ColumnElement[bool]:
    """The rules above for signed-in ``viewer_id`` as a SQL condition on a row's author, so a list
    (a feed page) is checked in the query that reads it: the viewer itself, or no block either way
    and (public, or followed with an active follow). ``viewer_id`` may be a bound parameter, for a
    statement built once."""
    blocked = sa.exists().where(
        sa.or_(
            sa.and_(blocks.c.blocker_id == viewer_id, blocks.c.blocked_id == author_id),
            sa.and_(blocks.c.blocker_id == author_id, blocks.c.blocked_id == viewer_id),
        )
    )
    followed = sa.exists().where(
        follows.c.follower_id == viewer_id, follows.c.followee_id == author_id, follows.c.state == "active"
    )
    return sa.or_(author_id == viewer_id, sa.and_(~blocked, sa.or_(sa.not_(author_private), followed)))
