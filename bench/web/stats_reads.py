"""The stats pages' reads of the analytics tables: one post's ``post_daily_stats`` days and the
last 14 days of ``pipeline_sla`` (``darkroom.analytics.reads.StatsReader``), what
``/p/{id}/stats`` and ``/ops/pipeline`` add to a page.

A generated history of ``--events`` events over 30 days (the mix of ``bench.analytics.jobs``:
50,000 posts, mostly ``post.viewed``), appended in commits of 100,000 rows as ingest would, on a
SQLite catalog and a local warehouse in a temporary directory; every job runs (full), then a 1 %
delta and the jobs again (incremental), so the targets have the files a running platform's have.
Then, for ``--posts`` random posts: the first read after the job's commit (the table read whole,
kept for the snapshot), a cold read (a post never read at this snapshot: a filter over that copy),
a warm one (the cache of answers, keyed by the snapshot id), the pushed-down ``post_id`` scan a
table over the whole-table limit gets, and the catalog look-up alone that every read pays; the
same for the pipeline's 14 days.

    python -m bench.web.stats_reads                     # 1,000,000 events, 50 posts
    python -m bench.web.stats_reads --events 200000     # quicker

Results are printed (docs/benchmarks.md, "Web: the stats pages' reads").
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.analytics.jobs import _START_US, events
from darkroom.analytics import catalog_location, events_table, open_catalog
from darkroom.analytics.jobs import JOBS, POST_DAILY_STATS, run
from darkroom.analytics.reads import StatsReader
from darkroom.config import Settings

_DAY_US = 86_400_000_000
_COMMIT_ROWS = 100_000


def _timed(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _line(name: str, ms: list[float]) -> str:
    p95 = statistics.quantiles(ms, n=20)[18] if len(ms) >= 2 else ms[0]
    return f"{name:<34} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   ({len(ms)} reads)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--posts", type=int, default=50)
    args = p.parse_args()
    rng = np.random.default_rng(5)
    span_us = 30 * _DAY_US
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-stats-") as tmp:
        catalog = open_catalog(catalog_location(Settings(home=Path(tmp) / "home")))
        source = events_table(catalog)
        for lo in range(0, args.events, _COMMIT_ROWS):
            n = min(_COMMIT_ROWS, args.events - lo)
            source.append(events(rng, n, lo, _START_US + np.arange(lo, lo + n) * (span_us // args.events)))
        for job in JOBS:
            run(job, catalog)
        delta = args.events // 100
        source.append(events(rng, delta, args.events, _START_US + span_us + rng.integers(0, _DAY_US, delta)))
        for job in JOBS:
            run(job, catalog)
        target = catalog.load_table(POST_DAILY_STATS)
        files = len(target.inspect.files())
        rows = target.scan().count()
        print(f"{args.events:,} events; post_daily_stats: {rows:,} rows in {files} files")
        print(f"kept whole by default: {rows <= StatsReader(catalog).whole_table_rows}")
        reader = StatsReader(catalog, whole_table_rows=rows)  # kept whole, whatever the default limit
        posts = [f"P{i:025d}" for i in rng.choice(50_000, args.posts + 1, replace=False)]
        first = _timed([lambda: reader.post_days(posts.pop())])
        cold = _timed([lambda p=p: reader.post_days(p) for p in posts])
        pushed = StatsReader(catalog, whole_table_rows=0)
        scans = _timed([lambda p=p: pushed.post_days(p) for p in posts])
        warm = _timed([lambda p=p: reader.post_days(p) for p in posts])
        lookup = _timed([lambda: catalog.load_table(POST_DAILY_STATS).current_snapshot() for _ in posts])
        days = [len(reader.post_days(p)) for p in posts]
        print(f"the posts read have {statistics.mean(days):.1f} days each on average")
        last = (dt.datetime.fromtimestamp((_START_US + span_us) / 1e6, dt.UTC)).date()
        since = last - dt.timedelta(days=13)
        sla_cold = _timed([lambda: StatsReader(catalog).pipeline_days(since) for _ in range(10)])
        reader.pipeline_days(since)  # the warm reads' answer, cached
        sla_warm = _timed([lambda: reader.pipeline_days(since) for _ in range(10)])
        print(_line("the first read (the table whole)", first))
        print(_line("a post's days, cold (in memory)", cold))
        print(_line("a post's days, pushed-down scan", scans))
        print(_line("a post's days, warm (cache)", warm))
        print(_line("the catalog look-up alone", lookup))
        print(_line("pipeline, 14 days, cold", sla_cold))
        print(_line("pipeline, 14 days, warm", sla_warm))


if __name__ == "__main__":
    main()
