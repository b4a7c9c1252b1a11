"""Analytics ingest throughput: events/s from a Redis stream into ``darkroom.events``.

A private redis-server (under a temporary directory) gets ``--events`` generated events in the
relay's entry format (``Event.to_fields``: ULID event ids, the platform's mix of types, most of
them ``post.viewed``), loaded before the clock starts. Then one :class:`~darkroom.analytics.Ingester`
on a SQLite catalog and a local warehouse (both in the temporary directory) runs rounds until every
entry is committed and settled; the time of each step (read and parse, commit, settle) is
summed. The table's row count and the settled position (the group's last-delivered-id at the
stream's end) are checked at the end.

    make bench-analytics                  # 1,000,000 events, batches of 100,000
    make bench-analytics ARGS="--events 200000 --batch 50000 --no-write"

The result goes to bench/results/analytics.json (docs/benchmarks.md, "Analytics").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import threading
import time
from pathlib import Path

import redis
from ulid import ULID

from darkroom.analytics import BatchLimits, Committed, Ingester, catalog_location, events_table, open_catalog
from darkroom.config import Settings
from darkroom.local.redis_server import RedisServer
from darkroom.social import keys
from darkroom.social.events import EventType

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# The mix: views dominate, as on any feed product.
_MIX = [(EventType.POST_VIEWED, 80), (EventType.POST_LIKED, 8), (EventType.ACCOUNT_FOLLOWED, 4)] + [
    (t, 1) for t in (EventType.POST_CREATED, EventType.POST_READY, EventType.COMMENT_CREATED, EventType.ACCOUNT_CREATED)
]


def _ids(n: int, start_ms: int) -> list[str]:
    """``n`` distinct ULIDs in increasing order (a 10-character time, then a counter)."""
    prefix = str(ULID.from_timestamp(start_ms / 1000))[:10]
    out = []
    for i in range(n):
        digits = []
        rest = i
        for _ in range(16):
            rest, r = divmod(rest, 32)
            digits.append(_CROCKFORD[r])
        out.append(prefix + "".join(reversed(digits)))
    return out


def load(client: redis.Redis, n: int, *, seed: int = 7) -> None:
    """XADD ``n`` events to the events stream, in pipelines of 10,000."""
    rng = random.Random(seed)
    kinds = rng.choices([k for k, _ in _MIX], weights=[w for _, w in _MIX], k=n)
    now = time.time() - 3 * 86_400  # three days back: the batches span day partitions
    event_ids = _ids(n, int(now * 1000))
    accounts = _ids(10_000, int(now * 1000) - 1)
    posts = _ids(50_000, int(now * 1000) - 2)
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        kind = kinds[i]
        post = posts[rng.randrange(len(posts))] if kind in _NEEDS_POST else ""
        data = f'{{"surface":"home","position":{i % 20}}}' if kind == EventType.POST_VIEWED else "{}"
        pipe.xadd(
            keys.EVENTS,
            {
                "event_id": event_ids[i],
                "type": str(kind),
                "occurred_at": repr(now + i * (3 * 86_400 / n)),
                "account_id": accounts[rng.randrange(len(accounts))],
                "post_id": post,
                "data": data,
            },
        )
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.execute()


_NEEDS_POST = {EventType.POST_VIEWED, EventType.POST_LIKED, EventType.POST_CREATED, EventType.POST_READY}
_NEEDS_POST |= {EventType.COMMENT_CREATED}


def _redis_cpu_s(client: redis.Redis) -> float:
    """The redis-server's CPU time so far (user + system, every thread)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-analytics-") as tmp:
        server = RedisServer(root=Path(tmp) / "redis", appendfsync="no")
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            started = time.perf_counter()
            load(client, args.events)
            loaded_s = time.perf_counter() - started
            print(f"loaded {args.events:,} events in {loaded_s:.1f}s", flush=True)
            catalog = open_catalog(catalog_location(Settings(home=Path(tmp) / "home")))
            limits = BatchLimits(max_batch_events=args.batch, max_batch_s=60, block_ms=100, read_count=args.read_count)
            ingester = Ingester(client, catalog, limits)
            steps = {"read_s": 0.0, "commit_s": 0.0, "settle_s": 0.0}
            rows = commits = 0
            redis_cpu_s = _redis_cpu_s(client)
            cpu_s = time.process_time()
            started = time.perf_counter()
            if args.serial:  # read, commit, settle one after the other, each step timed
                while rows < args.events:
                    t0 = time.perf_counter()
                    batch = ingester.read()
                    t1 = time.perf_counter()
                    committed = ingester.commit(batch)
                    t2 = time.perf_counter()
                    ingester.settle(batch)
                    t3 = time.perf_counter()
                    steps["read_s"] += t1 - t0
                    steps["commit_s"] += t2 - t1
                    steps["settle_s"] += t3 - t2
                    rows += committed.rows
                    commits += committed.snapshot_id is not None
                    print(f"  {rows:,} events, {commits} commits, {time.perf_counter() - started:.1f}s", flush=True)
            else:  # as `darkroom analytics ingest` runs: the next batch read while one commits
                stop = threading.Event()

                def done(committed: Committed) -> None:
                    nonlocal rows, commits
                    rows += committed.rows
                    commits += committed.snapshot_id is not None
                    print(f"  {rows:,} events, {commits} commits, {time.perf_counter() - started:.1f}s", flush=True)
                    if rows >= args.events:
                        stop.set()

                ingester.overlapped(stop, done)
                steps = {}
            elapsed = time.perf_counter() - started
            cpu_s = time.process_time() - cpu_s  # this process, every thread
            redis_cpu_s = _redis_cpu_s(client) - redis_cpu_s
            snapshot = events_table(catalog).current_snapshot()
            total = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0
            # settled: the group's last-delivered-id (the settled position) reached the stream's end
            group = next(g for g in client.xinfo_groups(keys.EVENTS) if g["name"] in (b"analytics", "analytics"))
            last = client.xinfo_stream(keys.EVENTS)["last-generated-id"]
            assert total == args.events and group["last-delivered-id"] == last, (total, group, last)
            client.close()
        finally:
            server.stop()
    return {
        "events": args.events,
        "batch": args.batch,
        "read_count": args.read_count,
        "mode": "serial" if args.serial else "overlapped",
        "commits": commits,
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(args.events / elapsed),
        # CPU per event: steadier than the rate on a shared machine (docs/benchmarks.md)
        "ingest_cpu_us_per_event": round(cpu_s / args.events * 1e6, 2),
        "redis_cpu_us_per_event": round(redis_cpu_s / args.events * 1e6, 2),
        **{k: round(v, 3) for k, v in steps.items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=100_000, help="max_batch_events: rows per commit")
    p.add_argument("--read-count", type=int, default=10_000, help="entries per XREADGROUP")
    p.add_argument("--serial", action="store_true", help="read, commit and settle one after the other, timing each")
    p.add_argument("--no-write", action="store_true", help="print only; do not write bench/results/analytics.json")
    args = p.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        out = Path("bench/results/analytics.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
