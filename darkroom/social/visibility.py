"""Who may see whom: blocks, private accounts and follows, in one place for every read.

Rules (docs/social.md, "Visibility"): a block either way hides each account from the other
entirely; a public account's posts are visible to everyone else, signed in or not; a private
account's posts, media, follower lists and comments only to itself, its active followers and
admins. What a viewer may not see answers exactly as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from darkroom.social.viewer import Viewer
from darkroom.storage.schema import blocks, follows

__all__ = ["author_visible_clause", "blocked_between", "can_view", "visible_authors"]


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
    """Of ``authors`` (id → private), those ``viewer`` may see, in at most two queries."""
    if not authors:
        return set()
    if viewer is None:
        return {a for a, private in authors.items() if not private}
    if viewer.admin:
        return set(authors)
    others = [a for a in authors if a != viewer.account_id]
    hidden = _blocked_with(conn, viewer.account_id, others)
    private = [a for a in others if authors[a] and a not in hidden]
    followed = _followed(conn, viewer.account_id, private)
    return {a for a in authors if a == viewer.account_id or (a not in hidden and (not authors[a] or a in followed))}


def _blocked_with(conn: sa.Connection, me: str, others: Collection[str]) -> set[str]:
    if not others:
        return set()
    theirs = sa.select(blocks.c.blocker_id).where(blocks.c.blocked_id == me, blocks.c.blocker_id.in_(others))
    mine = sa.select(blocks.c.blocked_id).where(blocks.c.blocker_id == me, blocks.c.blocked_id.in_(others))
    return set(conn.execute(sa.union(theirs, mine)).scalars())


def _followed(conn: sa.Connection, me: str, authors: Collection[str]) -> set[str]:
    if not authors:
        return set()
    query = sa.select(follows.c.followee_id).where(
        follows.c.follower_id == me, follows.c.state == "active", follows.c.followee_id.in_(authors)
    )
    return set(conn.execute(query).scalars())


def author_visible_clause(
    viewer_id: str, author_id: sa.ColumnElement[str], author_private: sa.ColumnElement[bool]
) -> sa.ColumnElement[bool]:
    """The rules above for signed-in ``viewer_id`` as a SQL condition on a row's author, so a list
    (a feed page) is checked in the query that reads it: the viewer itself, or no block either way
    and (public, or followed with an active follow)."""
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
