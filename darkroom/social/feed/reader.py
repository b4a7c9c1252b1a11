"""Reading a home feed: a page of post ids, newest first, behind an opaque cursor.

``HYBRID`` (the product) reads the viewer's pushed feed and merges the recent posts of the
celebrities the viewer follows (pulled); ``PUSH`` reads the feed alone; ``PULL`` merges every
followee's recent posts; ``SQL`` (:func:`sql_feed`) is the join a straightforward app would write. A missing
feed (a new or returning account: feeds expire after the active window without reads) is rebuilt
from SQL. Each page gets one visibility check in SQL (by primary key: ready, not deleted, author
visible), so a post deleted or hidden while an event was on its way never shows: by
``sources.visible_posts``, or by the caller's hydration (``keep``), which checks the same, so a
page hydrated anyway costs no statement of its own. Candidates are checked only as far as the page
needs, and over-read from Redis by a few so a dropped entry rarely costs a second round trip.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import TYPE_CHECKING

import sqlalchemy as sa
from redis.client import Pipeline
from redis.cluster import ClusterPipeline

from darkroom.social import keys
from darkroom.social.errors import InvalidInput
from darkroom.social.feed import cursors, pulled, sources
from darkroom.social.feed.config import FeedConfig, FeedDesign
from darkroom.social.feed.ranking import Candidate, Origin, ReverseChronological, Scorer
from darkroom.social.feed.store import FeedStore, RedisClient
from darkroom.social.ids import check_id
from darkroom.storage.schema import accounts, follows, posts

if TYPE_CHECKING:
    from darkroom.social.metrics import FeedMetrics

__all__ = ["MAX_LIMIT", "FeedPage", "Keep", "read_feed", "sql_feed"]

MAX_LIMIT = 100
_SLACK = 10  # candidates read beyond the limit: room for entries the visibility check drops
_MAX_ROUNDS = 8  # then the page is served short, its cursor at the last entry examined
_CATCH_UP_S = 60.0  # a rebuild also takes posts ready this long before it began (clock skew)
_DEFAULT_SCORER = ReverseChronological()

_Pipeline = Pipeline | ClusterPipeline
# which of some candidate posts (ids, newest first) the viewer may be shown now
Keep = Callable[[Sequence[str]], Collection[str]]


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Post ids in the order to show them; ``next_cursor`` is None on the last page."""

    post_ids: list[str]
    next_cursor: str | None


def read_feed(
    conn: sa.Connection,
    redis: RedisClient,
    viewer_id: str,
    *,
    cursor: str | None,
    limit: int,
    design: FeedDesign = FeedDesign.HYBRID,
    config: FeedConfig | None = None,
    scorer: Scorer = _DEFAULT_SCORER,
    touch_last_seen: bool = True,
    keep: Keep | None = None,
    metrics: FeedMetrics | None = None,
) -> FeedPage:
    """A page of ``viewer_id``'s home feed after ``cursor`` (None: the newest), read as ``design``
    says (``SQL``: :func:`sql_feed`, nothing else below applies). Refreshes the feed's
    expiry and, at most once an hour, ``accounts.last_seen_at`` (in ``conn``'s transaction).
    ``touch_last_seen=False`` leaves ``last_seen_at`` to the caller (one that notes activity when it
    authenticates, ``credentials.note_use``), so ``conn`` may be a read-only transaction. ``keep``
    picks which candidates to show (default: :func:`sources.visible_posts`, one statement per
    call); a caller that hydrates the page anyway passes its hydration, which checks the same.
    ``metrics``: the read's time goes to ``darkroom_feed_read_seconds{design}``."""
    started = time.perf_counter()
    page = _read(
        conn, redis, viewer_id, cursor=cursor, limit=limit, design=design, config=config, scorer=scorer,
        touch_last_seen=touch_last_seen, keep=keep,
    )  # fmt: skip
    if metrics is not None:
        metrics.read(design.value, time.perf_counter() - started)
    return page


def _read(
    conn: sa.Connection,
    redis: RedisClient,
    viewer_id: str,
    *,
    cursor: str | None,
    limit: int,
    design: FeedDesign,
    config: FeedConfig | None,
    scorer: Scorer,
    touch_last_seen: bool,
    keep: Keep | None,
) -> FeedPage:
    if design is FeedDesign.SQL:
        return sql_feed(conn, viewer_id, cursor, limit)
    _check_limit(limit)
    check_id(viewer_id, field="viewer_id")
    below = cursors.decode(cursor) if cursor is not None else None
    reader = _Reader(conn, redis, viewer_id, design, config or FeedConfig(), touch_last_seen=touch_last_seen)
    if keep is None:

        def keep(post_ids: Sequence[str]) -> Collection[str]:
            return sources.visible_posts(conn, viewer_id, post_ids)

    return reader.page(below, limit, scorer, keep)


def sql_feed(conn: sa.Connection, viewer_id: str, cursor: str | None, limit: int) -> FeedPage:
    """The home feed as one SQL join (posts of followed accounts and the viewer's own, newest first),
    for the benchmark to set beside the Redis designs."""
    _check_limit(limit)
    check_id(viewer_id, field="viewer_id")
    followed = sa.select(follows.c.followee_id).where(follows.c.follower_id == viewer_id, follows.c.state == "active")
    query = (
        sa.select(posts.c.id)
        .where(
            sa.or_(posts.c.author_id.in_(followed), posts.c.author_id == viewer_id),
            posts.c.state == "ready",
            posts.c.deleted_at.is_(None),
        )
        .order_by(posts.c.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(posts.c.id < cursors.decode(cursor))
    ids = list(conn.execute(query).scalars())
    page = ids[:limit]
    return FeedPage(page, cursors.encode(page[-1]) if len(ids) > limit else None)


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit {limit!r} is not a whole number from 1 to {MAX_LIMIT}", field="limit")


@dataclass(frozen=True, slots=True)
class _Set:
    """One sorted set a page draws from, and whose posts it holds."""

    key: str
    origin: Origin
    author: str | None  # for an author's recent posts: rebuilt from SQL when unbuilt


class _Reader:
    def __init__(
        self,
        conn: sa.Connection,
        redis: RedisClient,
        viewer_id: str,
        design: FeedDesign,
        config: FeedConfig,
        *,
        touch_last_seen: bool = True,
    ) -> None:
        self.conn, self.redis, self.viewer, self.design, self.config = conn, redis, viewer_id, design, config
        self.touch_last_seen = touch_last_seen

    @cached_property
    def store(self) -> FeedStore:
        return FeedStore(self.redis, config=self.config)  # only a rebuild writes

    def page(self, below: str | None, limit: int, scorer: Scorer, keep: Keep) -> FeedPage:
        sets = self._sets()
        fetch = limit + _SLACK
        merged = self._first_read(sets, below, fetch + 1)
        served: list[Candidate] = []
        for _ in range(_MAX_ROUNDS):
            window, more = merged[:fetch], len(merged) > fetch
            at = 0  # candidates are checked only as far as the page needs: usually one call
            while at < len(window) and len(served) < limit:
                chunk = window[at : at + limit - len(served)]
                shown = keep([c.post_id for c in chunk])
                served += [c for c in chunk if c.post_id in shown]
                at += len(chunk)
            if len(served) == limit:
                left = more or at < len(window)
                return _finish(served, scorer, cursors.encode(served[-1].post_id) if left else None)
            if not more:
                return _finish(served, scorer, None)
            merged = _merge(sets, self._ranges(sets, window[-1].post_id, fetch + 1), fetch + 1)
        return _finish(served, scorer, cursors.encode(window[-1].post_id))

    def _sets(self) -> list[_Set]:
        feed = [_Set(keys.feed(self.viewer), Origin.PUSHED, None)]
        if self.design is FeedDesign.PUSH:
            return feed
        if self.design is FeedDesign.PULL:
            authors = [*sources.followees(self.conn, self.viewer), self.viewer]
            return [_Set(keys.author_posts(a), Origin.PULLED, a) for a in authors]
        celebrities = pulled.celebrities(self.conn, self.redis, self.viewer, above=self.config.celebrity_followers)
        return feed + [_Set(keys.author_posts(a), Origin.PULLED, a) for a in celebrities]

    def _first_read(self, sets: list[_Set], below: str | None, want: int) -> list[Candidate]:
        """The first window, with the bookkeeping in the same round trip: the feed's expiry, the
        hour's last-seen touch, and whether each set is built (else it is rebuilt from SQL)."""
        pipe = self.redis.pipeline(transaction=False)
        if self.touch_last_seen:
            pipe.set(keys.seen(self.viewer), 1, nx=True, ex=self.config.seen_every_s)
        for s in sets:
            if s.origin is Origin.PUSHED:
                pipe.pexpire(s.key, self.config.active_window_s * 1000)
            else:
                pipe.zscore(s.key, keys.FEED_BUILT)
        _range(pipe, sets, below, want)
        replies = pipe.execute()
        if self.touch_last_seen:
            touched, replies = replies[0], replies[1:]
            if touched:
                now = time.time()
                self.conn.execute(sa.update(accounts).where(accounts.c.id == self.viewer).values(last_seen_at=now))
        checks = replies[: len(sets)]
        built = [bool(r) if s.origin is Origin.PUSHED else r is not None for s, r in zip(sets, checks, strict=True)]
        if all(built):
            return _merge(sets, replies[len(sets) :], want)
        for s, ok in zip(sets, built, strict=True):
            if not ok:
                self._rebuild(s)
        return _merge(sets, self._ranges(sets, below, want), want)

    def _rebuild(self, s: _Set) -> None:
        if s.author is not None:
            self.store.build_author_posts(
                s.author, sources.recent_posts(self.conn, s.author, limit=self.config.author_posts_cap)
            )
            return
        threshold = self.config.celebrity_followers if self.design is FeedDesign.HYBRID else None
        began = time.time()
        ids = sources.home_posts(self.conn, self.viewer, limit=self.config.feed_cap, pushed_up_to=threshold)
        self.store.build(self.viewer, ids)
        # a post made ready after the query but fanned out before the build found no feed to land
        # in: take again what became ready since, now that the feed exists (a later one is pushed)
        late = sources.home_posts(
            self.conn, self.viewer, limit=self.config.feed_cap, pushed_up_to=threshold, ready_since=began - _CATCH_UP_S
        )
        self.store.add(self.viewer, late)

    def _ranges(self, sets: Sequence[_Set], below: str | None, want: int) -> list[list[bytes | str]]:
        pipe = self.redis.pipeline(transaction=False)
        _range(pipe, sets, below, want)
        return list(pipe.execute())


def _range(pipe: _Pipeline, sets: Sequence[_Set], below: str | None, want: int) -> None:
    """Queue, for each set, its newest ``want`` posts older than ``below`` (the marker excluded)."""
    top = f"({below}" if below is not None else f"({keys.FEED_BUILT}"
    for s in sets:
        pipe.zrange(s.key, top, "-", desc=True, bylex=True, offset=0, num=want)


def _merge(sets: Sequence[_Set], ranges: Sequence[Sequence[bytes | str]], want: int) -> list[Candidate]:
    """The sets' newest ``want`` posts, newest first, each once (a pushed copy wins over a pulled
    one: the feed is the first set, and the merge keeps the first set's copy of a tie). Each range
    comes newest first, so a k-way merge stops after ``want``: a pull-heavy page reads ``want``
    posts from each of dozens of sets and needs ``want`` of them all."""
    tagged = [_tagged(members, s.origin) for s, members in zip(sets, ranges, strict=True)]
    out: list[Candidate] = []
    last: bytes | str | None = None
    for member, origin in heapq.merge(*tagged, key=itemgetter(0), reverse=True):
        if member == last:
            continue
        if len(out) == want:
            break
        last = member
        out.append(Candidate(member.decode() if isinstance(member, bytes) else member, origin))
    return out


def _tagged(members: Sequence[bytes | str], origin: Origin) -> Iterator[tuple[bytes | str, Origin]]:
    for member in members:
        yield member, origin


def _finish(served: list[Candidate], scorer: Scorer, next_cursor: str | None) -> FeedPage:
    return FeedPage([c.post_id for c in scorer.rank(served)], next_cursor)
