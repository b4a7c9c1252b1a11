"""The counters: followers, following and posts per account, likes and comments per post.

They are kept off the request path (the article's counter service): the ``counters`` consumer
group (:class:`CountersHandler`) reads each batch of events, collects the accounts and posts whose
counters may have changed, and recomputes those counters *from the rows* in one transaction, one
grouped query per counter kind. Recomputing rather than adding makes it idempotent by
construction: a batch delivered again changes nothing. :func:`repair_counters` recomputes every
counter the same way (``darkroom social repair-counters``).

What counts: ``follower_count``/``following_count`` are ``active`` follows whose other account is
not deleted; ``post_count`` the account's ``ready``, not deleted posts; ``like_count`` the likes;
``comment_count`` the comments not deleted. ``version`` (the ETag) moves only when a value does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import redis
import sqlalchemy as sa
from sqlalchemy import Engine

from darkroom.social import postcache
from darkroom.social.events import Event, EventType
from darkroom.storage.schema import accounts, comments, follows, likes, posts

__all__ = [
    "CountersHandler",
    "RepairReport",
    "Touched",
    "invalidate_posts",
    "recount_accounts",
    "recount_posts",
    "repair_counters",
    "touched_by",
]

# Ids per grouped query: a consumer batch's (at most 1000 events, two accounts each) fit in one; a
# repair walks the tables in chunks. Far below SQLite's (32,766) and PostgreSQL's (65,535) parameters.
CHUNK = 5000

_FOLLOW_EVENTS = frozenset(
    {EventType.ACCOUNT_FOLLOWED, EventType.ACCOUNT_UNFOLLOWED, EventType.ACCOUNT_BLOCKED, EventType.FOLLOW_REQUESTED}
)
_POST_STATE_EVENTS = frozenset(
    {EventType.POST_CREATED, EventType.POST_READY, EventType.POST_FAILED, EventType.POST_DELETED}
)
_POST_COUNTER_EVENTS = frozenset(
    {EventType.POST_LIKED, EventType.POST_UNLIKED, EventType.COMMENT_CREATED, EventType.COMMENT_DELETED}
)
# The other account of a follow-graph event, under whichever name the event gives it.
_OTHER_ACCOUNT_KEYS = ("follower_id", "followee_id", "blocker_id", "blocked_id")


@dataclass(frozen=True, slots=True)
class Touched:
    """What one batch may have changed the counters of."""

    accounts: frozenset[str] = frozenset()  # follow graph: the actor and the other account
    posts: frozenset[str] = frozenset()  # likes and comments
    authored: frozenset[str] = frozenset()  # posts created, ready, failed or deleted: their authors' post_count
    deleted_accounts: frozenset[str] = frozenset()  # their follows' other accounts

    def __bool__(self) -> bool:
        return bool(self.accounts or self.posts or self.authored or self.deleted_accounts)


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What :func:`repair_counters` found: rows checked and rows whose counters were wrong."""

    accounts_checked: int = 0
    accounts_fixed: int = 0
    posts_checked: int = 0
    posts_fixed: int = 0
    fixed_post_ids: tuple[str, ...] = ()  # their cached copies are stale


def touched_by(batch: Sequence[Event]) -> Touched:
    """The accounts and posts whose counters ``batch`` may have changed (events of other kinds,
    ``post.viewed`` above all, touch nothing)."""
    accounts_: set[str] = set()
    posts_: set[str] = set()
    authored: set[str] = set()
    deleted: set[str] = set()
    for e in batch:
        if e.type in _FOLLOW_EVENTS:
            accounts_.add(e.account_id)
            accounts_.update(v for k in _OTHER_ACCOUNT_KEYS if isinstance(v := e.data.get(k), str))
        elif e.type in _POST_STATE_EVENTS and e.post_id:
            accounts_.add(e.account_id)  # the author, usually; the post's row names it for sure
            authored.add(e.post_id)
        elif e.type in _POST_COUNTER_EVENTS and e.post_id:
            posts_.add(e.post_id)
        elif e.type is EventType.ACCOUNT_DELETED:
            deleted.add(e.account_id)
            # a deletion that removed the rows linking it to others names them (docs/social.md)
            accounts_.update(_strings(e.data.get("account_ids")))
            posts_.update(_strings(e.data.get("post_ids")))
    return Touched(frozenset(accounts_), frozenset(posts_), frozenset(authored), frozenset(deleted))


class CountersHandler:
    """The ``counters`` consumer group's handler (:class:`~darkroom.social.events.Handler`)."""

    name = "counters"

    def __init__(self, engine: Engine, redis_client: redis.Redis) -> None:
        self.engine = engine
        self.redis = redis_client

    def handle(self, batch: Sequence[Event]) -> None:
        touched = touched_by(batch)
        if not touched:
            return
        with self.engine.begin() as conn:
            ids = set(touched.accounts)
            ids.update(_authors(conn, touched.authored))
            ids.update(_follow_partners(conn, touched.deleted_accounts))
            recount_accounts(conn, ids)
            recount_posts(conn, touched.posts)
        # Every recounted post, not only those that changed: a batch redelivered after a crash
        # between the commit and this line changes nothing, yet its posts' cached copies are stale.
        invalidate_posts(self.redis, touched.posts)


def recount_accounts(conn: sa.Connection, ids: Iterable[str]) -> list[str]:
    """Recompute the counters of accounts ``ids`` from the rows; answer the ids that changed."""
    counters = {"follower_count": _followers, "following_count": _following, "post_count": _ready_posts}
    return _recount(conn, accounts, ids, counters)


def recount_posts(conn: sa.Connection, ids: Iterable[str]) -> list[str]:
    """Recompute the counters of posts ``ids`` from the rows; answer the ids that changed."""
    return _recount(conn, posts, ids, {"like_count": _likes, "comment_count": _live_comments})


# a counter column's grouped count query: (id, count) for the ids given that have any
_CountQuery = Callable[[list[str]], "sa.Select[str, int]"]
_other = accounts.alias("other")


def _followers(ids: list[str]) -> sa.Select[str, int]:
    return (
        sa.select(follows.c.followee_id, sa.func.count())
        .join(_other, _other.c.id == follows.c.follower_id)
        .where(follows.c.followee_id.in_(ids), follows.c.state == "active", _other.c.deleted_at.is_(None))
        .group_by(follows.c.followee_id)
    )


def _following(ids: list[str]) -> sa.Select[str, int]:
    return (
        sa.select(follows.c.follower_id, sa.func.count())
        .join(_other, _other.c.id == follows.c.followee_id)
        .where(follows.c.follower_id.in_(ids), follows.c.state == "active", _other.c.deleted_at.is_(None))
        .group_by(follows.c.follower_id)
    )


def _ready_posts(ids: list[str]) -> sa.Select[str, int]:
    return (
        sa.select(posts.c.author_id, sa.func.count())
        .where(posts.c.author_id.in_(ids), posts.c.state == "ready", posts.c.deleted_at.is_(None))
        .group_by(posts.c.author_id)
    )


def _likes(ids: list[str]) -> sa.Select[str, int]:
    return sa.select(likes.c.post_id, sa.func.count()).where(likes.c.post_id.in_(ids)).group_by(likes.c.post_id)


def _live_comments(ids: list[str]) -> sa.Select[str, int]:
    return (
        sa.select(comments.c.post_id, sa.func.count())
        .where(comments.c.post_id.in_(ids), comments.c.deleted_at.is_(None))
        .group_by(comments.c.post_id)
    )


def _recount(
    conn: sa.Connection, table: sa.Table, ids: Iterable[str], counters: Mapping[str, _CountQuery]
) -> list[str]:
    """Set ``table``'s counter columns (the keys of ``counters``) of rows ``ids`` to what their
    queries count, moving ``version`` where a value changes; answer the ids that changed."""
    changed: list[str] = []
    for chunk in _chunks(ids):
        # Lock the rows first (PostgreSQL; SQLite's transactions hold the write lock already): two
        # consumers recounting one row then count one after the other, so the later count wins.
        current = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                sa.select(table.c.id, *(table.c[name] for name in counters))
                .where(table.c.id.in_(chunk))
                .order_by(table.c.id)
                .with_for_update()
            )
        }
        if not current:
            continue
        counts = [_counts(conn, query(list(current))) for query in counters.values()]
        updates = []
        for id_, old in current.items():
            new = tuple(c.get(id_, 0) for c in counts)
            if new != old:
                # bound as "_<column>": a bind parameter may not share its column's name
                updates.append({"_id": id_, **{f"_{name}": n for name, n in zip(counters, new, strict=True)}})
        if updates:
            values: dict[str, object] = {name: sa.bindparam(f"_{name}") for name in counters}
            conn.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("_id"))
                .values({**values, "version": table.c.version + 1}),
                updates,
            )
            changed += [str(u["_id"]) for u in updates]
    return changed


def repair_counters(conn: sa.Connection) -> RepairReport:
    """Recompute every account's and post's counters from the rows, in chunks of :data:`CHUNK`
    ids (inside the caller's transaction); the report says how many were wrong."""
    accounts_checked = posts_checked = 0
    fixed_accounts: list[str] = []
    fixed_posts: list[str] = []
    for chunk in _walk(conn, accounts.c.id):
        accounts_checked += len(chunk)
        fixed_accounts += recount_accounts(conn, chunk)
    for chunk in _walk(conn, posts.c.id):
        posts_checked += len(chunk)
        fixed_posts += recount_posts(conn, chunk)
    return RepairReport(accounts_checked, len(fixed_accounts), posts_checked, len(fixed_posts), tuple(fixed_posts))


def invalidate_posts(client: redis.Redis, post_ids: Iterable[str]) -> None:
    """Drop the cached copies of ``post_ids``: :func:`darkroom.social.postcache.invalidate` (one
    round trip; a tombstone rather than a DEL, so a read racing the recount cannot put the old
    counts back)."""
    postcache.invalidate(client, list(post_ids))


# -- helpers -----------------------------------------------------------------------------------------
def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(ids))  # sorted: every transaction locks rows in the same order (no deadlock)
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i : i + CHUNK]


def _walk(conn: sa.Connection, column: sa.Column[str]) -> Iterator[list[str]]:
    last = ""
    while True:
        chunk = list(conn.execute(sa.select(column).where(column > last).order_by(column).limit(CHUNK)).scalars())
        if not chunk:
            return
        yield chunk
        last = chunk[-1]


def _counts(conn: sa.Connection, query: sa.Select[str, int]) -> dict[str, int]:
    return {key: int(n) for key, n in conn.execute(query)}


def _authors(conn: sa.Connection, post_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(post_ids):
        found.update(conn.execute(sa.select(posts.c.author_id).where(posts.c.id.in_(chunk))).scalars())
    return found


def _follow_partners(conn: sa.Connection, account_ids: Iterable[str]) -> set[str]:
    """The accounts on the other side of any follow (active or requested) of ``account_ids``."""
    found: set[str] = set()
    for chunk in _chunks(account_ids):
        found.update(chunk)
        found.update(conn.execute(sa.select(follows.c.follower_id).where(follows.c.followee_id.in_(chunk))).scalars())
        found.update(conn.execute(sa.select(follows.c.followee_id).where(follows.c.follower_id.in_(chunk))).scalars())
    return found
