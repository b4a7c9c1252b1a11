"""Compaction of one day of micro-batches: ``--files`` appends of ``--rows`` events each, all on one
day, as ingest leaves them (one commit, one file and one manifest per batch), on a SQLite catalog
and a local warehouse in a temporary directory. Measured before and after
``darkroom.analytics.compaction.compact``:

- the day's data files and bytes; the compaction's own time (read, write, one replace commit);
- a full scan of the table (``scan().to_arrow()``), and a scan of one hour of it;
- building the dedupe index from the manifests (``EventIdIndex.sync``, as a restarted ingester does).

The rows are checked equal (sorted by ``event_id``) before and after.

    python -m bench.analytics.compaction                    # 500 files of 200 events
    python -m bench.analytics.compaction --files 100 --no-write

The result goes to bench/results/analytics_compaction.json (docs/benchmarks.md, "Analytics:
compaction").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from darkroom.analytics import catalog_location, events_table, open_catalog
from darkroom.analytics.compaction import CompactionPolicy, compact
from darkroom.analytics.dedupe import EventIdIndex
from darkroom.analytics.position import StreamId, summary_properties
from darkroom.analytics.tables import EVENTS_ARROW
from darkroom.config import Settings
from darkroom.social.ids import new_id

DAY_US = 1_773_100_800_000_000  # 2026-03-10 00:00 UTC


def _batch(i: int, rows: int, per_batch_us: int) -> pa.Table:
    start = DAY_US + i * per_batch_us
    return pa.table(
        {
            "event_id": [new_id() for _ in range(rows)],
            "type": ["post.viewed"] * rows,
            "occurred_at": pa.array(
                [start + j * (per_batch_us // rows) for j in range(rows)], pa.timestamp("us", tz="UTC")
            ),
            "account_id": [new_id() for _ in range(rows)],
            "post_id": [new_id() for _ in range(rows)],
            "properties": ['{"n": 1}'] * rows,
        },
        schema=EVENTS_ARROW,
    )


def _timed(fn: object) -> tuple[object, float]:
    started = time.perf_counter()
    out = fn()  # type: ignore[operator]
    return out, time.perf_counter() - started


def _measure(table: object) -> dict[str, float]:
    from pyiceberg.table import Table

    assert isinstance(table, Table)
    _, full_s = _timed(lambda: table.scan().to_arrow())
    hour = "occurred_at >= '2026-03-10T12:00:00+00:00' AND occurred_at < '2026-03-10T13:00:00+00:00'"
    _, hour_s = _timed(lambda: table.scan(row_filter=hour).to_arrow())
    _, index_s = _timed(lambda: EventIdIndex().sync(table))
    files = table.inspect.files()
    return {
        "files": files.num_rows,
        "bytes": int(pc.sum(files.column("file_size_in_bytes")).as_py()),
        "full_scan_s": round(full_s, 3),
        "hour_scan_s": round(hour_s, 3),
        "dedupe_index_s": round(index_s, 3),
    }


def run_bench(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        catalog = open_catalog(catalog_location(Settings(home=Path(tmp))))
        table = events_table(catalog)
        per_batch_us = 86_400_000_000 // args.files
        started = time.perf_counter()
        for i in range(args.files):
            position = summary_properties("s", StreamId(i, 0))
            table.append(_batch(i, args.rows, per_batch_us), snapshot_properties=position)
        fill_s = time.perf_counter() - started
        before_rows = table.scan().to_arrow().sort_by("event_id")
        before = _measure(table)
        done, compact_s = _timed(lambda: compact(table, CompactionPolicy(min_files=2, quiet_s=0)))
        after = _measure(table)
        after_rows = table.scan().to_arrow().sort_by("event_id")
        if not after_rows.equals(before_rows):
            raise SystemExit("the rows changed in the compaction")
        return {
            "files": args.files,
            "rows_per_file": args.rows,
            "rows": before_rows.num_rows,
            "fill_s": round(fill_s, 1),
            "compaction_s": round(compact_s, 3),
            "compacted": [str(c) for c in done],  # type: ignore[attr-defined]
            "before": before,
            "after": after,
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "loadavg": os.getloadavg(),
            },
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=500, help="micro-batch commits (files) on the day")
    p.add_argument("--rows", type=int, default=200, help="events per micro-batch")
    p.add_argument("--no-write", action="store_true", help="print only; do not write the results file")
    args = p.parse_args()
    result = run_bench(args)
    text = json.dumps(result, indent=2)
    print(text)
    if not args.no_write:
        out = Path("bench/results/analytics_compaction.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
