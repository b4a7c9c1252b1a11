"""The SQL reads behind the feed: followers in keyset pages, followees, authors' recent posts, a
feed's rebuild and the one visibility check a page gets. SQL is the source of truth; Redis holds
what these rebuild."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from darkroom.social.accounts import live
from darkroom.social.relations import among
from darkroom.social.visibility import author_visible_clause
from darkroom.storage.schema import accounts, follows, posts

__all__ = [
    "PostFacts",
    "active_followers",
    "author_posts_since",
    "celebrity_followees",
    "followees",
    "follower_count",
    "home_posts",
    "is_following",
    "post_facts",
    "recent_posts",
    "visible_posts",
]

_READY = "ready"
_ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What the fan-out needs to know about a post: who wrote it, whether it may be shown, and how
    many followers its author has (the counter, which decides push or pull)."""

    author_id: str
    showable: bool  # ready and not deleted
    author_followers: int


def post_facts(conn: sa.Connection, post_id: str) -> PostFacts | None:
    query = (
        sa.select(posts.c.author_id, posts.c.state, posts.c.deleted_at, accounts.c.follower_count)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(posts.c.id == post_id)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return PostFacts(row.author_id, row.state == _READY and row.deleted_at is None, int(row.follower_count))


def follower_count(conn: sa.Connection, account_id: str) -> int:
    """The account's follower counter (kept by the counter consumer; 0 for an unknown account)."""
    query = sa.select(accounts.c.follower_count).where(accounts.c.id == account_id)
    return int(conn.execute(query).scalar() or 0)


def active_followers(conn: sa.Connection, author_id: str, *, page: int) -> Iterator[list[str]]:
    """``author_id``'s active followers, ``page`` ids at a time, in id order (keyset: each page is
    an index range scan from where the last one ended, never the whole list at once)."""
    after = ""
    while True:
        query = (
            sa.select(follows.c.follower_id)
            .where(follows.c.followee_id == author_id, follows.c.state == _ACTIVE, follows.c.follower_id > after)
            .order_by(follows.c.follower_id)
            .limit(page)
        )
        ids = list(conn.execute(query).scalars())
        if ids:
            yield ids
        if len(ids) < page:
            return
        after = ids[-1]


def is_following(conn: sa.Connection, follower_id: str, followee_id: str) -> bool:
    query = sa.select(sa.literal(1)).where(
        follows.c.follower_id == follower_id, follows.c.followee_id == followee_id, follows.c.state == _ACTIVE
    )
    return conn.execute(query).first() is not None


def recent_posts(conn: sa.Connection, author_id: str, *, limit: int) -> list[str]:
    """``author_id``'s newest ready, not deleted posts, newest first."""
    query = (
        sa.select(posts.c.id)
        .where(posts.c.author_id == author_id, posts.c.state == _READY, posts.c.deleted_at.is_(None))
        .order_by(posts.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def author_posts_since(conn: sa.Connection, author_id: str, oldest: str) -> list[str]:
    """Every post of ``author_id`` from ``oldest`` on, whatever its state: what a feed whose oldest
    entry is ``oldest`` may hold of this author."""
    query = sa.select(posts.c.id).where(posts.c.author_id == author_id, posts.c.id >= oldest)
    return list(conn.execute(query).scalars())


def _followed(viewer_id: str) -> sa.Select[str]:
    return sa.select(follows.c.followee_id).where(follows.c.follower_id == viewer_id, follows.c.state == _ACTIVE)


def followees(conn: sa.Connection, viewer_id: str) -> list[str]:
    """The accounts ``viewer_id`` follows (active follows)."""
    return list(conn.execute(_followed(viewer_id)).scalars())


_CELEBRITY_FOLLOWEES = (
    sa.select(follows.c.followee_id)
    .join(accounts, accounts.c.id == follows.c.followee_id)
    .where(
        follows.c.follower_id == sa.bindparam("viewer_id", type_=sa.String),
        follows.c.state == _ACTIVE,
        accounts.c.follower_count > sa.bindparam("above", type_=sa.Integer),
    )
)  # built once: every feed read runs it (building a statement costs more than running a cached one)


def celebrity_followees(conn: sa.Connection, viewer_id: str, *, above: int) -> list[str]:
    """The accounts ``viewer_id`` follows that have more than ``above`` followers (pulled, not pushed)."""
    return list(conn.execute(_CELEBRITY_FOLLOWEES, {"viewer_id": viewer_id, "above": above}).scalars())


def home_posts(
    conn: sa.Connection, viewer_id: str, *, limit: int, pushed_up_to: int | None, ready_since: float | None = None
) -> list[str]:
    """A home feed rebuilt from SQL: the newest ``limit`` ready, not deleted posts of ``viewer_id``
    and its followees, newest first. ``pushed_up_to``: leave out followees with more followers
    (celebrities: their posts are pulled at read time). ``ready_since``: only posts that became
    ready at or after this time (a rebuild's catch-up)."""
    query = (
        sa.select(posts.c.id)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(
            sa.or_(posts.c.author_id.in_(_followed(viewer_id)), posts.c.author_id == viewer_id),
            posts.c.state == _READY,
            posts.c.deleted_at.is_(None),
            accounts.c.deleted_at.is_(None),
        )
        .order_by(posts.c.id.desc())
        .limit(limit)
    )
    if pushed_up_to is not None:
        query = query.where(sa.or_(accounts.c.follower_count <= pushed_up_to, posts.c.author_id == viewer_id))
    if ready_since is not None:
        query = query.where(posts.c.ready_at >= ready_since)
    return list(conn.execute(query).scalars())


def visible_posts(conn: sa.Connection, viewer_id: str, post_ids: Collection[str]) -> set[str]:
    """Of ``post_ids``, those ``viewer_id`` may see now: ready, not deleted, by a live author the
    viewer may see (darkroom.social.visibility). One query, by primary key."""
    if not post_ids:
        return set()
    params = {"viewer_id": viewer_id, "post_ids": list(post_ids)}
    return set(conn.execute(_visible_posts(conn.dialect.name), params).scalars())


@functools.cache
def _visible_posts(dialect: str) -> sa.Select[str]:
    viewer = sa.bindparam("viewer_id", type_=sa.String)
    return (
        sa.select(posts.c.id)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(
            among(posts.c.id, "post_ids", dialect),
            posts.c.state == _READY,
            posts.c.deleted_at.is_(None),
            live(),  # neither deleted nor disabled
            author_visible_clause(viewer, posts.c.author_id, accounts.c.private),
        )
    )
