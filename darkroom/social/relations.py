"""How one signed-in account relates to a batch of accounts and posts, read in one statement.

Visibility (blocks, follows of private accounts), the viewer fields of an account
(``followed_by_me``, ``requested_by_me``, ``follows_me``, ``blocked_by_me``) and of a post
(``liked_by_me``) all come from the same few index lookups; asking for them in one ``UNION ALL``
keeps a hydrated page at one round trip for everything about the viewer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from darkroom.storage.schema import blocks, follows, likes

__all__ = ["NONE", "Kinded", "Relations", "among", "collect", "load", "queries", "run"]

Kinded = sa.Select[str, str]  # a select of (kind, id) rows, one part of the UNION ALL


@dataclass(frozen=True, slots=True)
class Relations:
    """A viewer's edges to the accounts and posts it was loaded for."""

    following: frozenset[str] = frozenset()  # active follows viewer → account
    requested: frozenset[str] = frozenset()  # follow requests viewer → private account, unanswered
    followers: frozenset[str] = frozenset()  # active follows account → viewer
    blocking: frozenset[str] = frozenset()  # the viewer blocks the account
    blocked_by: frozenset[str] = frozenset()  # the account blocks the viewer
    liked: frozenset[str] = frozenset()  # posts the viewer likes

    @property
    def hidden(self) -> frozenset[str]:
        """Accounts in a block with the viewer, either way."""
        return self.blocking | self.blocked_by


NONE = Relations()


def load(conn: sa.Connection, viewer_id: str, accounts: Collection[str] = (), posts: Collection[str] = ()) -> Relations:
    """The edges between ``viewer_id`` and ``accounts`` / ``posts``: one statement, none when both
    are empty."""
    parts = queries(viewer_id, accounts, posts, dialect=conn.dialect.name)
    if not parts:
        return NONE
    return collect(run(conn, parts))


def run(conn: sa.Connection, parts: Sequence[Kinded]) -> list[tuple[str, str]]:
    """Execute ``parts`` as one statement: their ``(kind, id)`` rows."""
    result = conn.execute(parts[0] if len(parts) == 1 else sa.union_all(*parts))
    return [(str(kind), str(id_)) for kind, id_ in result]


def among(column: sa.ColumnElement[str], values: Collection[str], dialect: str) -> sa.ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(:values)``, one array parameter, so the
    statement's text and parameter count stay the same whatever the list's length. That keeps a
    page's statements in the drivers' caches: psycopg parses a statement of more than 50 parameters
    again at every execution (a feed page's relations statement had about 150, and parsing it was a
    tenth of the feed route's CPU). SQLite has no arrays: an ``IN`` list there."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(sa.String)))
    return column.in_(values)


def queries(
    viewer_id: str, accounts: Collection[str] = (), posts: Collection[str] = (), *, dialect: str = ""
) -> list[Kinded]:
    """The selects behind :func:`load`, each answering ``(kind, id)`` rows, for a caller that adds
    its own parts to the same ``UNION ALL`` (see resources.py). ``dialect``: the connection's
    (:func:`among`)."""
    accounts = sorted(set(accounts) - {viewer_id})
    posts = sorted(set(posts))
    parts: list[Kinded] = []
    if accounts:
        parts += [
            sa.select(follows.c.state.label("kind"), follows.c.followee_id.label("id")).where(
                follows.c.follower_id == viewer_id, among(follows.c.followee_id, accounts, dialect)
            ),
            sa.select(_kind("follower"), follows.c.follower_id.label("id")).where(
                follows.c.followee_id == viewer_id,
                follows.c.state == "active",
                among(follows.c.follower_id, accounts, dialect),
            ),
            sa.select(_kind("blocking"), blocks.c.blocked_id.label("id")).where(
                blocks.c.blocker_id == viewer_id, among(blocks.c.blocked_id, accounts, dialect)
            ),
            sa.select(_kind("blocked_by"), blocks.c.blocker_id.label("id")).where(
                blocks.c.blocked_id == viewer_id, among(blocks.c.blocker_id, accounts, dialect)
            ),
        ]
    if posts:
        parts.append(
            sa.select(_kind("liked"), likes.c.post_id.label("id")).where(
                likes.c.account_id == viewer_id, among(likes.c.post_id, posts, dialect)
            )
        )
    return parts


def collect(rows: Iterable[tuple[str, str]]) -> Relations:
    """The :class:`Relations` in ``(kind, id)`` rows; kinds this module does not know are skipped."""
    found: dict[str, set[str]] = {}
    for kind, id_ in rows:
        found.setdefault(kind, set()).add(id_)

    def of(kind: str) -> frozenset[str]:
        return frozenset(found.get(kind, ()))

    return Relations(
        following=of("active"),
        requested=of("requested"),
        followers=of("follower"),
        blocking=of("blocking"),
        blocked_by=of("blocked_by"),
        liked=of("liked"),
    )


def _kind(name: str) -> sa.Label[str]:
    return sa.literal(name, sa.String).label("kind")
