"""The data set's feeds in Redis, as the product would hold them, and what they cost in memory.

What each design reads (``darkroom.social.feed.reader``): ``HYBRID`` an active account's feed
(its followees' posts except celebrities', and its own) plus the celebrities' recent posts;
``PUSH`` the feed alone (every followee's posts); ``PULL`` every followee's recent posts; ``SQL``
nothing in Redis. The feeds are computed from the world (the newest ``feed_cap`` posts of those
authors, as ``sources.home_posts`` would rebuild them) and written with the product's
:class:`~darkroom.social.feed.FeedStore` (its Lua ``build``), pipelined.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import redis

from bench.social.world import Ints, World
from darkroom.social.feed import FeedConfig, FeedDesign, FeedStore, pulled

__all__ = ["Built", "MemoryPoint", "build_author_posts", "build_feeds", "feed_posts", "measure_growth"]

_PIPELINE = 200  # builds per round trip


@dataclass(frozen=True)
class Built:
    feeds: int
    entries: int
    seconds: float


@dataclass(frozen=True)
class MemoryPoint:
    """``used_memory`` of the feeds of the first ``share`` of accounts by activity."""

    share: float
    feeds: int
    entries: int
    bytes_total: int
    label: str = ""

    @property
    def bytes_per_feed(self) -> float:
        return self.bytes_total / max(self.feeds, 1)

    @property
    def bytes_per_entry(self) -> float:
        return self.bytes_total / max(self.entries, 1)


def feed_posts(world: World, owner: int, *, cap: int, celebrity_above: int | None) -> Ints:
    """The post indexes of ``owner``'s feed, newest first: its own posts and its followees' (but
    for followees with more than ``celebrity_above`` followers), the newest ``cap``."""
    authors = world.followees(owner)
    if celebrity_above is not None:
        authors = authors[world.in_degree[authors] <= celebrity_above]
    parts = [world.posts_of(int(a)) for a in authors]
    parts.append(world.posts_of(owner))
    every = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    if len(every) > cap:
        every = np.partition(every, len(every) - cap)[len(every) - cap :]
    return np.sort(every)[::-1]


def _celebrity_above(design: FeedDesign, config: FeedConfig) -> int | None:
    return config.celebrity_followers if design is FeedDesign.HYBRID else None


def build_feeds(
    client: redis.Redis,
    world: World,
    owners: Ints,
    design: FeedDesign,
    config: FeedConfig,
    *,
    progress: Callable[[int], None] = lambda _: None,
) -> Built:
    """Every feed of ``owners`` built as ``design`` keeps it (``HYBRID`` or ``PUSH``); for ``HYBRID``
    also each owner's pulled set (the celebrities it follows), as a read builds it and keeps it for
    an hour: without it every viewer's first page of a run read it from SQL."""
    if design not in (FeedDesign.HYBRID, FeedDesign.PUSH):
        raise ValueError(f"the {design} design keeps no feeds")
    above = _celebrity_above(design, config)
    began = time.monotonic()
    entries = 0
    pipe = client.pipeline(transaction=False)
    store = FeedStore(pipe, config=config)
    for n, owner in enumerate(owners, start=1):
        posts = feed_posts(world, int(owner), cap=config.feed_cap, celebrity_above=above)
        store.build(world.id_of(int(owner)), [p.decode() for p in world.post_ids[posts]])
        if above is not None:
            followees = world.followees(int(owner))
            celebrities = followees[world.in_degree[followees] > above]
            pulled.write(pipe, world.id_of(int(owner)), [world.id_of(int(c)) for c in celebrities])
        entries += len(posts)
        if n % _PIPELINE == 0:
            pipe.execute()
            progress(n)
    pipe.execute()
    return Built(len(owners), entries, time.monotonic() - began)


def build_author_posts(client: redis.Redis, world: World, config: FeedConfig) -> Built:
    """Every author's recent posts (the fan-out records each post there, whatever the design)."""
    began = time.monotonic()
    pipe = client.pipeline(transaction=False)
    store = FeedStore(pipe, config=config)
    entries = authors = 0
    for account in range(world.scale.accounts):
        posts = world.posts_of(account)[::-1][: config.author_posts_cap]
        if len(posts) == 0:
            continue
        store.build_author_posts(world.id_of(account), [p.decode() for p in world.post_ids[posts]])
        entries += len(posts)
        authors += 1
        if authors % _PIPELINE == 0:
            pipe.execute()
    pipe.execute()
    return Built(authors, entries, time.monotonic() - began)


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def measure_growth(
    client: redis.Redis,
    world: World,
    shares: list[float],
    config: FeedConfig,
    *,
    design: FeedDesign = FeedDesign.HYBRID,
    progress: Callable[[int], None] = lambda _: None,
) -> list[MemoryPoint]:
    """``used_memory`` growth as the feeds of the first 5 %, 10 %… of accounts are built (nested:
    each share adds feeds to the last). Feeds only: call it on a Redis holding no feeds."""
    base = _used(client)
    points: list[MemoryPoint] = []
    done, entries = 0, 0
    for share in sorted(shares):
        owners = world.active_accounts(share)
        built = build_feeds(client, world, owners[done:], design, config, progress=progress)
        done, entries = len(owners), entries + built.entries
        points.append(MemoryPoint(share, done, entries, _used(client) - base))
    return points
