"""The fan-out measurements: one author with N active followers (feeds warmed with 100 entries, as
Stream-Framework's were), the time until every follower's feed holds a post, entries/s, Redis CPU
and commands per entry, the batch size swept, and Redis memory for the feeds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
import sqlalchemy as sa

from bench.queue.server import BenchRedis
from darkroom.social import keys
from darkroom.social.events import Event, EventType
from darkroom.social.feed import FanoutHandler, FeedConfig, FeedStore
from darkroom.social.ids import new_id
from darkroom.storage.schema import accounts, follows, posts

__all__ = [
    "FanoutRun",
    "MemoryRow",
    "Seeded",
    "measure_celebrity",
    "measure_fanout",
    "measure_memory",
    "seed",
    "sweep",
    "warm",
]

WARM_ENTRIES = 100


@dataclass(frozen=True)
class Seeded:
    author: str
    followers: list[str]


@dataclass
class FanoutRun:
    """``posts`` fan-outs of one post each to ``feeds`` feeds (the followers' and the author's)."""

    batch_keys: int
    feeds: int
    entries_before: int  # in each feed before the run
    seconds: list[float] = field(default_factory=list)
    redis_cpu_s: float = 0.0
    redis_calls: int = 0  # commands, those inside scripts included
    script_calls: int = 0
    script_usec: int = 0

    @property
    def p50_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def max_s(self) -> float:
        return max(self.seconds)

    @property
    def entries_per_s(self) -> float:
        return self.feeds / self.p50_s

    @property
    def entries(self) -> int:
        return self.feeds * len(self.seconds)

    @property
    def cpu_us_per_entry(self) -> float:
        return self.redis_cpu_s * 1e6 / self.entries

    @property
    def calls_per_entry(self) -> float:
        return self.redis_calls / self.entries

    @property
    def usec_per_script(self) -> float:
        return self.script_usec / max(self.script_calls, 1)


@dataclass(frozen=True)
class MemoryRow:
    label: str
    feeds: int
    entries_per_feed: int
    bytes_total: int

    @property
    def bytes_per_feed(self) -> float:
        return self.bytes_total / self.feeds


def seed(engine: sa.Engine, followers: int) -> Seeded:
    """An author and ``followers`` accounts following it (the counter set as the counter consumer
    would), all seen now."""
    now = time.time()
    ids = [new_id() for _ in range(followers + 1)]
    author, rest = ids[0], ids[1:]

    def row(i: str) -> dict[str, object]:
        return {
            "id": i,
            "handle": f"b{i.lower()}"[:30],
            "email": f"{i.lower()}@bench.test",
            "display_name": "",
            "bio": "",
            "private": False,
            "role": "user",
            "disabled": False,
            "password_hash": "x",
            "follower_count": followers if i == author else 0,
            "following_count": 0,
            "post_count": 0,
            "version": 1,
            "last_seen_at": now,
            "created_at": now,
            "updated_at": now,
        }

    with engine.begin() as conn:
        for i in range(0, len(ids), 5000):
            conn.execute(sa.insert(accounts), [row(x) for x in ids[i : i + 5000]])
        for i in range(0, len(rest), 5000):
            edges = [
                {"follower_id": f, "followee_id": author, "state": "active", "created_at": now}
                for f in rest[i : i + 5000]
            ]
            conn.execute(sa.insert(follows), edges)
    return Seeded(author, rest)


def warm(client: redis.Redis, owners: list[str], entries: int = WARM_ENTRIES) -> None:
    """Every feed rebuilt with ``entries`` posts older than any the run makes."""
    store = FeedStore(client)
    history = [new_id() for _ in range(entries)]
    for owner in owners:
        store.build(owner, history)


def _post(engine: sa.Engine, author: str) -> str:
    post_id, now = new_id(), time.time()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(posts).values(
                id=post_id, author_id=author, caption="", state="ready", like_count=0, comment_count=0,
                version=1, created_at=now, updated_at=now, ready_at=now,
            )
        )  # fmt: skip
    return post_id


def _holders(client: redis.Redis, owners: list[str], post_id: str) -> int:
    pipe = client.pipeline(transaction=False)
    for owner in owners:
        pipe.zscore(keys.feed(owner), post_id)
    return sum(s is not None for s in pipe.execute())


def measure_fanout(
    engine: sa.Engine,
    server: BenchRedis,
    world: Seeded,
    *,
    posts_n: int,
    batch_keys: int,
    progress: Callable[[], None],
    entries: int = WARM_ENTRIES,
) -> FanoutRun:
    """Fan ``posts_n`` posts out, one at a time, into feeds of ``entries`` posts; each timed from
    the handler's start until it returns, when every feed holds the post (checked, untimed, after
    each)."""
    client = server.client
    owners = [world.author, *world.followers]
    server.flush()
    warm(client, owners, entries)
    client.bgrewriteaof()  # compacted now, so no rewrite (a fork) starts while the run is timed
    server.wait_aof_rewrite()
    config = FeedConfig(batch_keys=batch_keys, follower_page=max(batch_keys, 5000))
    handler = FanoutHandler(engine, client, config=config)
    run = FanoutRun(batch_keys, len(owners), entries)
    handler.handle([Event(EventType.POST_READY, world.author, post_id=_post(engine, world.author))])  # warm-up
    for _ in range(posts_n):
        post_id = _post(engine, world.author)
        before = server.counters()
        started = time.perf_counter()
        handler.handle([Event(EventType.POST_READY, world.author, post_id=post_id)])
        run.seconds.append(time.perf_counter() - started)
        delta = server.counters() - before
        held = _holders(client, owners, post_id)
        if held != len(owners):
            raise AssertionError(f"post {post_id} reached {held} of {len(owners)} feeds")
        run.redis_cpu_s += delta.cpu_s
        run.redis_calls += delta.total_calls - delta.calls.get("evalsha", 0)
        run.script_calls += delta.calls.get("evalsha", 0)
        run.script_usec += delta.usec.get("evalsha", 0)
        progress()
    return run


def sweep(
    engine: sa.Engine,
    server: BenchRedis,
    world: Seeded,
    *,
    sizes: list[int],
    posts_n: int,
    progress: Callable[[], None],
) -> list[FanoutRun]:
    return [measure_fanout(engine, server, world, posts_n=posts_n, batch_keys=b, progress=progress) for b in sizes]


def measure_celebrity(engine: sa.Engine, server: BenchRedis, world: Seeded) -> float:
    """Seconds the handler takes for a post by an author above the threshold: recorded in its
    recent posts (read by followers at their next page), pushed to no follower."""
    handler = FanoutHandler(engine, server.client, config=FeedConfig(celebrity_followers=len(world.followers) - 1))
    post_id = _post(engine, world.author)
    started = time.perf_counter()
    handler.handle([Event(EventType.POST_READY, world.author, post_id=post_id)])
    seconds = time.perf_counter() - started
    if server.client.zscore(keys.author_posts(world.author), post_id) is None:
        raise AssertionError("the celebrity's post is not in its recent posts")
    if _holders(server.client, world.followers[:100], post_id):
        raise AssertionError("the celebrity's post was pushed")
    return seconds


def measure_memory(server: BenchRedis, feeds: int, sample: int) -> list[MemoryRow]:
    """Redis ``used_memory`` growth for ``feeds`` feeds of 100 entries, and (on ``sample`` feeds,
    scaled up) for full feeds of 800: in the default encoding (a skiplist above 128 entries) and as
    a listpack (``zset-max-listpack-entries 1024``)."""
    client = server.client
    rows: list[MemoryRow] = []
    for label, count, entries, listpack in (
        ("100 entries (listpack, Redis default)", feeds, WARM_ENTRIES, None),
        ("800 entries (skiplist, Redis default)", sample, 800, None),
        ("800 entries (listpack: zset-max-listpack-entries 1024)", sample, 800, 1024),
    ):
        client.flushall()
        default = client.config_get("zset-max-listpack-entries")["zset-max-listpack-entries"]
        if listpack is not None:
            client.config_set("zset-max-listpack-entries", listpack)
        base = int(client.info("memory")["used_memory"])
        warm(client, [new_id() for _ in range(count)], entries)
        used = int(client.info("memory")["used_memory"]) - base
        client.config_set("zset-max-listpack-entries", default)
        rows.append(MemoryRow(label, feeds, entries, used * feeds // count))
    client.flushall()
    return rows
