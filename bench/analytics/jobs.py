"""Incremental jobs: a full recompute against an incremental run after a 1 % delta.

A generated history of ``--events`` events (the platform's mix: mostly ``post.viewed``; posts with
hashtags; ``step.finished`` / ``workflow.finished`` in their documented shape) spanning ``--days``
days is appended to ``darkroom.events`` in commits of ``--commit-rows`` (as ingest's micro-batches
would), on a SQLite catalog and a local warehouse in a temporary directory. Every job runs once
(its first run is a full recompute). Then two deltas of ``--delta`` of the history each are appended,
one commit each, and measured one after the other: the first all in the hour after the history
(on time), the second with ``--late`` of it days late, spread over the whole history. After each,
for each job in dependency order:

- **incremental**: ``darkroom.analytics.jobs.run`` (capture, compute, commit with the state);
- **full recompute**: the job's full transform over its source at the same snapshot, written to a
  scratch table (overwrite), as a rebuild would;

each as wall time and as the process's CPU time (every thread's: DuckDB and pyarrow use several),
which a loaded machine disturbs less;

and the incremental target is checked equal, row for row, to the full recompute.

    make bench-analytics                                   # ingest, then this with 5,000,000 events
    python -m bench.analytics.jobs --events 200000 --no-write

The result goes to bench/results/analytics_jobs.json (docs/benchmarks.md, "Analytics").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from darkroom.analytics import catalog_location, events_table, open_catalog
from darkroom.analytics.jobs import JOBS, run
from darkroom.analytics.jobs.job import JOB_TABLE_PROPERTIES
from darkroom.analytics.jobs.sql import stream_sql
from darkroom.analytics.tables import EVENTS_ARROW
from darkroom.config import Settings

_MIX = {
    "post.viewed": 0.80,
    "post.liked": 0.07,
    "comment.created": 0.03,
    "account.followed": 0.03,
    "post.created": 0.01,
    "step.finished": 0.045,
    "workflow.finished": 0.015,
}
_TAGS = [f"tag{i}" for i in range(300)]
_START_US = 1_767_225_600_000_000  # 2026-01-01 UTC
_HOUR_US = 3_600_000_000


def _ids(prefix: str, start: int, n: int) -> pa.Array:
    """``n`` distinct 26-character ids (the width of a ULID), in order."""
    digits = pa.array(np.arange(start, start + n), pa.int64()).cast(pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), pc.utf8_lpad(digits, 25, "0"), "")


def _properties(rng: np.random.Generator) -> dict[str, list[str]]:
    """Pools of ``properties`` per type: a row draws one (JSON built once, not per row)."""
    tags = [
        orjson.dumps({"upload_ids": ["u"], "tags": list(rng.choice(_TAGS, rng.integers(0, 4), replace=False))}).decode()
        for _ in range(2000)
    ]
    flows = [(w, p) for w in ("video", "image", "studio") for p in ("interactive", "standard", "batch")]
    steps = [
        orjson.dumps({"workflow_id": "w", "workflow": w, "priority": p, "state": "succeeded", "step": s,
                      "duration_ms": int(rng.lognormal(8, 1))}).decode()
        for w, p in flows for s in ("probe", "encode", "package") for _ in range(40)
    ]  # fmt: skip
    finished = [
        orjson.dumps({"workflow_id": "w", "workflow": w, "priority": p, "state": "succeeded",
                      "duration_ms": int(rng.lognormal(10, 1)),
                      "lateness_ms": int(rng.normal(-20_000, 30_000))}).decode()
        for w, p in flows for _ in range(60)
    ]  # fmt: skip
    return {
        "post.created": tags,
        "step.finished": steps,
        "workflow.finished": finished,
        "comment.created": ['{"comment_id":"c"}'],
    }


def _power_law(rng: np.random.Generator, population: int, n: int, exponent: float) -> np.ndarray:
    """``n`` draws from ``0..population-1`` where rank ``r`` has weight ``1 / (r + 1) ** exponent``
    (a few posts and viewers take most of the views, as on any feed); ranks are shuffled so that
    popularity does not follow the id order."""
    weights = 1.0 / np.arange(1, population + 1) ** exponent
    cdf = np.cumsum(weights / weights.sum())
    ranks = np.minimum(np.searchsorted(cdf, rng.random(n)), population - 1)
    return _SHUFFLE[population][ranks]


_SHUFFLE: dict[int, np.ndarray] = {}
POSTS = 200_000
ACCOUNTS = 100_000


def lateness_us(rng: np.random.Generator, n: int, mean_days: float) -> np.ndarray:
    """How late ``n`` late events arrive: a whole number of days (at least one, geometric: most a
    day or two, a few weeks) plus a fraction of a day, as phones that were offline send them."""
    days = rng.geometric(1.0 / mean_days, n)
    return (days * 24 * _HOUR_US + rng.integers(0, 24 * _HOUR_US, n)).astype(np.int64)


def events(rng: np.random.Generator, n: int, first_id: int, times_us: np.ndarray) -> pa.Table:
    """``n`` events of the mix at ``times_us``, ids from ``first_id``; posts and accounts drawn
    from power laws."""
    for population in (POSTS, ACCOUNTS):
        if population not in _SHUFFLE:
            _SHUFFLE[population] = np.random.default_rng(population).permutation(population)
    kinds = np.array(list(_MIX))
    kind = kinds[rng.choice(len(kinds), n, p=list(_MIX.values()))]
    pools = _properties(rng)
    props = np.full(n, "{}", dtype=object)
    for k, pool in pools.items():
        where = np.flatnonzero(kind == k)
        props[where] = np.array(pool, dtype=object)[rng.integers(0, len(pool), len(where))]
    has_post = np.isin(kind, ["post.viewed", "post.liked", "comment.created", "post.created"])
    posts = _ids("P", 0, POSTS).take(pa.array(_power_law(rng, POSTS, n, 1.1)))
    created = kind == "post.created"
    posts = pc.if_else(pa.array(created), _ids("Q", first_id, n), posts)  # a new post, its own id
    return pa.Table.from_arrays(
        [
            _ids("E", first_id, n).cast(pa.large_string()),
            pa.array(kind, pa.large_string()),
            pa.array(times_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            _ids("A", 0, ACCOUNTS).take(pa.array(_power_law(rng, ACCOUNTS, n, 0.8))).cast(pa.large_string()),
            pc.if_else(pa.array(has_post), posts, pa.nulls(n, pa.string())).cast(pa.large_string()),
            pa.array(props, pa.large_string()),
        ],
        schema=EVENTS_ARROW,
    )


def fingerprint(table: Table) -> tuple[int, int, int]:
    """``table``'s rows as a multiset, streamed through DuckDB: the count, and the sum and the XOR
    of every row's 64-bit hash of all its columns (equal multisets give equal fingerprints; a
    differing row changes them but for a hash collision)."""
    names = ", ".join(f'"{f.name}"' for f in table.schema().fields)
    sql = f"SELECT count(*) AS n, sum(hash({names})::HUGEINT) AS s, bit_xor(hash({names})) AS x FROM source"
    (row,) = next(stream_sql(sql, 1, source=table.scan().to_arrow_batch_reader())).to_pylist()
    return int(row["n"]), int(row["s"] or 0), int(row["x"] or 0)


def _measure(catalog: Catalog, n: int) -> list[dict[str, Any]]:
    """Each job incrementally, then as a full recompute into a scratch table (streamed, as the
    runner does); the two must hold the same rows."""
    results: list[dict[str, Any]] = []
    for job in JOBS:
        t0, c0 = time.perf_counter(), time.process_time()
        done = run(job, catalog)
        incremental_s, incremental_cpu = time.perf_counter() - t0, time.process_time() - c0
        src = catalog.load_table(job.source)
        snapshot = src.current_snapshot()
        assert snapshot is not None
        t0, c0 = time.perf_counter(), time.process_time()
        scratch = catalog.create_table(
            (job.target[0], f"{job.target[1]}_full_{n}"), schema=job.schema, partition_spec=job.spec,
            properties=JOB_TABLE_PROPERTIES,
        )  # fmt: skip
        full_rows = 0
        with scratch.transaction() as tx:  # a new table: nothing to replace
            for chunk in job.full_chunks(src, snapshot.snapshot_id):
                tx.append(chunk.cast(scratch.schema().as_arrow()))
                full_rows += chunk.num_rows
        full_s, full_cpu = time.perf_counter() - t0, time.process_time() - c0
        equal = fingerprint(catalog.load_table(job.target)) == fingerprint(catalog.load_table(scratch.name()))
        assert equal, f"{job.name}: the incremental target differs from the full recompute"
        results.append(
            {"job": job.name, "pattern": str(job.pattern), "change_files": done.files, "change_rows": done.records,
             "rows_written": done.rows_written, "target_rows": full_rows, "incremental_s": round(incremental_s, 3),
             "full_s": round(full_s, 3), "share": round(incremental_s / full_s, 4),
             "incremental_cpu_s": round(incremental_cpu, 3), "full_cpu_s": round(full_cpu, 3),
             "cpu_share": round(incremental_cpu / full_cpu, 4),
             "speedup": round(full_s / incremental_s, 1), "equal": equal}
        )  # fmt: skip
        print(
            f"  {job.name}: incremental {incremental_s:.2f}s, full {full_s:.2f}s ({incremental_s / full_s:.1%});"
            f" CPU {incremental_cpu:.2f}s, {full_cpu:.2f}s ({incremental_cpu / full_cpu:.1%}); equal",
            flush=True,
        )
    return results


def run_bench(args: argparse.Namespace) -> dict[str, object]:
    rng = np.random.default_rng(11)
    span_us = args.days * 24 * _HOUR_US
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-jobs-") as tmp:
        catalog = open_catalog(catalog_location(Settings(home=Path(tmp) / "home")))
        source = events_table(catalog)
        started = time.perf_counter()
        for lo in range(0, args.events, args.commit_rows):
            n = min(args.commit_rows, args.events - lo)
            times = _START_US + (np.arange(lo, lo + n) * (span_us // args.events))
            is_late = rng.random(n) < args.late  # sent days after they happened
            times[is_late] = np.maximum(
                _START_US, times[is_late] - lateness_us(rng, int(is_late.sum()), args.late_days)
            )
            source.append(events(rng, n, lo, times))
        print(f"history: {args.events:,} events in {time.perf_counter() - started:.1f}s", flush=True)
        first: dict[str, float] = {}
        for job in JOBS:
            t0 = time.perf_counter()
            run(job, catalog)
            first[job.name] = round(time.perf_counter() - t0, 3)
            print(f"  first run (full) {job.name}: {first[job.name]:.1f}s", flush=True)

        delta = max(1, int(args.events * args.delta))
        scenarios = []
        for n, share in enumerate((0.0, args.late)):  # on time, then with late events
            late = int(delta * share)
            end_us = _START_US + span_us + n * _HOUR_US
            arrived = end_us + rng.integers(0, _HOUR_US, delta)
            if args.late_spread == "uniform":  # the worst case: late events anywhere in the history
                back = arrived[:late] - (_START_US + rng.integers(0, span_us, late))
            else:
                back = lateness_us(rng, late, args.late_days)
            times = arrived.copy()
            times[:late] = np.maximum(_START_US, arrived[:late] - back)
            source.append(events(rng, delta, args.events + n * delta, times))
            print(f"delta {n + 1}: {delta:,} events ({late:,} days late) appended", flush=True)
            scenarios.append({"delta_events": delta, "late_events": late, "jobs": _measure(catalog, n)})
    return {
        "events": args.events,
        "days": args.days,
        "commit_rows": args.commit_rows,
        "late": args.late,
        "late_days_mean": args.late_days,
        "late_spread": args.late_spread,
        "posts": POSTS,
        "accounts": ACCOUNTS,
        "first_run_s": first,
        "scenarios": scenarios,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=5_000_000)
    p.add_argument("--days", type=int, default=60, help="days the history spans")
    p.add_argument("--commit-rows", type=int, default=100_000, help="rows per history commit")
    p.add_argument("--delta", type=float, default=0.01, help="the delta, a share of the history")
    p.add_argument("--late", type=float, default=0.02, help="the share of events (history and delta) that is days late")
    p.add_argument("--late-days", type=float, default=2.0, help="the mean of how many days late a late event is")
    p.add_argument(
        "--late-spread", choices=("geometric", "uniform"), default="geometric",
        help="late events' days: geometric (most a day or two) or uniform over the history (the worst case)",
    )  # fmt: skip
    p.add_argument("--no-write", action="store_true", help="print only; do not write bench/results/analytics_jobs.json")
    args = p.parse_args()
    result = run_bench(args)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        out = Path("bench/results/analytics_jobs.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
