"""The feeds' Redis writes: each one Lua script, all or nothing, many keys per call.

Two families of sorted sets share one shape (``darkroom.social.keys``): an account's home feed
(``keys.feed``: kept only while the account is active, so a push lands only where the feed exists)
and an author's recent posts (``keys.author_posts``: always written, read by followers of
celebrities and by the pull design). A call carries keys of one Redis Cluster hash slot: on a
cluster client the keys are grouped by slot (one call per group); on a single node every key goes
in the same call, up to ``FeedConfig.batch_keys`` (measured: docs/benchmarks.md, "Social feed").
Every script checks all its keys' types and its arguments before it writes anything, because Redis
does not undo the commands a script ran before a failing one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TypeAlias

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.crc import key_slot

from darkroom.social import keys
from darkroom.social.feed.config import MAX_KEYS_PER_CALL, MAX_POSTS_PER_CALL, FeedConfig
from darkroom.social.ids import check_id

__all__ = ["MAX_KEYS_PER_CALL", "MAX_POSTS_PER_CALL", "FeedStore", "RedisClient"]

RedisClient: TypeAlias = redis.Redis | RedisCluster


class _When(StrEnum):
    EXISTING = "existing"  # only into a set that exists (a feed: its owner is active)
    ALWAYS = "always"  # an author's recent posts


@cache
def _source(name: str) -> str:
    lua = resources.files("darkroom.social.feed").joinpath("lua")
    prelude = f"local MAX_KEYS = {MAX_KEYS_PER_CALL}\nlocal MAX_MEMBERS = {MAX_POSTS_PER_CALL}\n"
    return prelude + lua.joinpath("_lib.lua").read_text("utf-8") + lua.joinpath(f"{name}.lua").read_text("utf-8")


class FeedStore:
    """Writes to home feeds and authors' recent posts. Post ids are checked (:class:`InvalidInput`
    naming the bad one); a key of the wrong type fails the whole call (``redis.ResponseError``
    naming the key) with nothing written."""

    def __init__(self, client: RedisClient, *, config: FeedConfig | None = None) -> None:
        self.config = config or FeedConfig()
        self.redis = client
        self._cluster = isinstance(client, RedisCluster)
        self._scripts: dict[str, Script] = {
            n: client.register_script(_source(n)) for n in ("push", "unpush", "add", "remove", "build")
        }

    # -- many feeds, one post ----------------------------------------------------------------------
    def push(self, post_id: str, owners: Sequence[str]) -> int:
        """Add ``post_id`` to the feeds of ``owners`` that exist, each trimmed to the cap; returns
        how many feeds hold it. Safe to repeat."""
        check_id(post_id, field="post_id")
        cap = self.config.feed_cap
        return sum(
            int(self._scripts["push"](keys=batch, args=[cap, post_id]))
            for batch in self._batches([keys.feed(o) for o in owners])
        )

    def unpush(self, post_id: str, owners: Sequence[str]) -> int:
        """Remove ``post_id`` from the feeds of ``owners``; returns how many held it."""
        check_id(post_id, field="post_id")
        return sum(
            int(self._scripts["unpush"](keys=batch, args=[post_id]))
            for batch in self._batches([keys.feed(o) for o in owners])
        )

    # -- one feed, many posts ----------------------------------------------------------------------
    def add(self, owner: str, post_ids: Sequence[str]) -> int:
        """Merge ``post_ids`` into ``owner``'s feed if it exists (a new followee's recent posts);
        returns how many were new."""
        return self._add(keys.feed(owner), post_ids, self.config.feed_cap, _When.EXISTING)

    def remove(self, owner: str, post_ids: Sequence[str]) -> int:
        """Take ``post_ids`` out of ``owner``'s feed (an unfollowed or blocked author's posts)."""
        _check_ids(post_ids)
        key = keys.feed(owner)
        return sum(int(self._scripts["remove"](keys=[key], args=list(c))) for c in _chunks(post_ids))

    def build(self, owner: str, post_ids: Sequence[str]) -> None:
        """Replace ``owner``'s feed with the newest ``feed_cap`` of ``post_ids`` and the marker, expiring
        after the active window (refreshed by reads)."""
        self._build(keys.feed(owner), post_ids, self.config.feed_cap, self.config.active_window_s * 1000)

    def oldest(self, owner: str) -> str | None:
        """The oldest post id in ``owner``'s feed, or None when it is empty or missing."""
        first = self.redis.zrange(keys.feed(owner), 0, 0)
        oldest = _text(first[0]) if first and isinstance(first[0], bytes | str) else keys.FEED_BUILT
        return None if oldest == keys.FEED_BUILT else oldest

    # -- an author's recent posts ------------------------------------------------------------------
    def record(self, author: str, post_id: str) -> None:
        """Add ``post_id`` to ``author``'s recent posts (created if missing; capped)."""
        self._add(keys.author_posts(author), [post_id], self.config.author_posts_cap, _When.ALWAYS)

    def forget(self, author: str, post_id: str) -> None:
        """Take ``post_id`` out of ``author``'s recent posts."""
        check_id(post_id, field="post_id")
        self._scripts["unpush"](keys=[keys.author_posts(author)], args=[post_id])

    def build_author_posts(self, author: str, post_ids: Sequence[str]) -> None:
        """Replace ``author``'s recent posts with the newest of ``post_ids`` and the marker (no expiry)."""
        self._build(keys.author_posts(author), post_ids, self.config.author_posts_cap, 0)

    # -- internals ---------------------------------------------------------------------------------
    def _add(self, key: str, post_ids: Sequence[str], cap: int, when: _When) -> int:
        _check_ids(post_ids)
        # the newest ``cap`` are all that can survive the trim: send no more
        newest = sorted(post_ids, reverse=True)[:cap]
        if not newest:
            return 0
        return int(self._scripts["add"](keys=[key], args=[cap, str(when), *newest]))

    def _build(self, key: str, post_ids: Sequence[str], cap: int, ttl_ms: int) -> None:
        _check_ids(post_ids)
        newest = sorted(set(post_ids), reverse=True)[:cap]
        self._scripts["build"](keys=[key], args=[cap, ttl_ms, *newest])

    def _batches(self, all_keys: list[str]) -> Iterator[list[str]]:
        """``all_keys`` in calls of at most ``batch_keys``, each of one hash slot on a cluster."""
        size = self.config.batch_keys
        if not self._cluster:
            for i in range(0, len(all_keys), size):
                yield all_keys[i : i + size]
            return
        groups: dict[int, list[str]] = defaultdict(list)
        for key in all_keys:
            groups[key_slot(key.encode())].append(key)
        for group in groups.values():
            for i in range(0, len(group), size):
                yield group[i : i + size]


def _check_ids(post_ids: Sequence[str]) -> None:
    for post_id in post_ids:
        check_id(post_id, field="post_id")


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), MAX_POSTS_PER_CALL):
        yield items[i : i + MAX_POSTS_PER_CALL]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
