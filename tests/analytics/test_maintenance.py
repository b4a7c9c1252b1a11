"""Maintenance on a real SQLite catalog, a real Redis stream and the real ingest: compaction keeps
the rows, the stream position and the dedupe index, and jobs stay incremental and equal to a full
recompute across it; expiry keeps every snapshot a job needs; compaction racing ingest or another
compaction loses nothing and doubles nothing."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
import redis
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation
from typer.testing import CliRunner

from darkroom.analytics import BatchLimits, Ingester, committed_position, events_table
from darkroom.analytics.compaction import CompactionPolicy, _rewrite, compact, plan_partitions
from darkroom.analytics.expiry import ExpiryPolicy, expire
from darkroom.analytics.jobs import JOBS, Mode, job_named, run, target_table
from darkroom.analytics.maintenance import Maintained, MaintenancePolicy, maintain, readers
from darkroom.analytics.state import processed_snapshot
from darkroom.cli import app
from darkroom.config import Settings
from darkroom.social import keys
from tests.analytics.conftest import Publish
from tests.analytics.history import History
from tests.analytics.test_jobs import LIMITS, assert_equals_full_recompute

NOW = CompactionPolicy(min_files=2, quiet_s=0)  # every partition with 2 small files, however recent
AT_ONCE = ExpiryPolicy(retention_s=0, orphan_grace_s=0)  # everything not needed, nothing spared


def event_ids(table: Table) -> list[str]:
    table.refresh()
    return sorted(table.scan(selected_fields=("event_id",)).to_arrow().column(0).to_pylist())


def data_files(table: Table) -> int:
    table.refresh()
    return len(table.inspect.files())


SMALL = BatchLimits(max_batch_events=6, max_batch_s=0.05, block_ms=1)  # a commit per 6 events: small files


def ingest_batches(redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish, history: History, n: int) -> None:
    """``n`` commits of 6 events (some late, some offered again)."""
    publish(*history.batch(6 * n, late_share=0.3))
    ingester = Ingester(redis_client, catalog, SMALL)
    try:
        while batch := ingester.read():  # a batch of duplicates only commits nothing: go on
            ingester.commit(batch)
            ingester.settle(batch)
    finally:
        ingester.close()


def test_compaction_keeps_rows_position_and_dedupe(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(10))
    ingest_batches(redis_client, catalog, publish, history, 4)
    events = events_table(catalog)
    before, files, position = event_ids(events), data_files(events), committed_position(events, keys.EVENTS)
    ingester = Ingester(redis_client, catalog, LIMITS)  # its index is built before the compaction
    ingester.index.sync(ingester.table)
    done = compact(events, NOW)
    assert done and all(c.files_after < c.files_before for c in done)
    head = events.current_snapshot()
    assert head is not None and head.summary is not None and head.summary.operation == Operation.REPLACE
    assert data_files(events) < files and event_ids(events) == before
    assert committed_position(events, keys.EVENTS) == position
    assert head.summary.additional_properties[f"darkroom.stream.{keys.EVENTS}.last-id"] == str(position)
    try:
        publish(*history.sent[:5], *history.batch(3, duplicate_share=0))  # 5 copies, 3 new events
        committed = ingester.commit(ingester.read())
    finally:
        ingester.close()
    assert (committed.rows, committed.duplicates) == (3, 5)
    events.refresh()
    ingester.index.sync(events)
    assert len(ingester.index) == data_files(events)  # the compaction's files replaced the small ones
    assert event_ids(events) == sorted({e["event_id"] for e in history.sent})


@pytest.mark.slow  # every job runs three times (DuckDB): about 10 s here
def test_jobs_stay_incremental_across_compaction(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    rng = random.Random(11)
    history = History(rng)
    ingest_batches(redis_client, catalog, publish, history, 3)
    assert [run(job, catalog).mode for job in JOBS] == [Mode.FULL] * len(JOBS)
    ingest_batches(redis_client, catalog, publish, history, 3)
    for job in rng.sample(JOBS, 2):  # some jobs level with the compaction, some behind it
        run(job, catalog)
    assert maintain(catalog, MaintenancePolicy(NOW), expiry=False).compacted
    runs = [run(job, catalog) for job in JOBS]
    assert {r.mode for r in runs} == {Mode.INCREMENTAL}, [r.reason for r in runs]  # never full
    for job in JOBS:
        assert_equals_full_recompute(catalog, job)


@pytest.mark.slow  # a job runs three times and the others once: about 6 s here
def test_expiry_keeps_every_snapshot_a_job_needs(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(12))
    job = job_named("post_daily_stats")
    ingest_batches(redis_client, catalog, publish, history, 2)
    run(job, catalog)
    processed = processed_snapshot(target_table(catalog, job))
    ingest_batches(redis_client, catalog, publish, history, 3)
    events = events_table(catalog)
    compact(events, NOW)
    small = {f for f in _paths(events) if "data" in f}
    result = expire(catalog, events, readers(), AT_ONCE)
    assert result.expired >= 1  # the snapshot before the processed one
    assert processed is not None and result.needed[processed] == "processed by post_daily_stats"
    line = _line(events, processed)
    assert all(s in result.needed for s in line), "the snapshots after a processed one are kept"
    assert small <= _paths(events), "the files of unprocessed appends stay on disk after the compaction"
    done = run(job, catalog)
    assert done.mode == Mode.INCREMENTAL and done.files >= 3
    assert_equals_full_recompute(catalog, job)
    for other in JOBS:
        run(other, catalog)
    after = expire(catalog, events, readers(), AT_ONCE)
    assert after.retained == 1 and after.orphans_removed > 0  # now only the head is needed
    assert_equals_full_recompute(catalog, job)


def test_compaction_racing_ingest_commits_on_the_new_head(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(13))
    ingest_batches(redis_client, catalog, publish, history, 4)
    stale = events_table(catalog)  # the compaction's view, before ingest commits again
    (candidate, *_) = plan_partitions(stale, NOW)
    ingest_batches(redis_client, catalog, publish, history, 1)  # ingest wins the race
    done = _rewrite(stale, candidate)
    assert done.attempts == 2 and done.snapshot_id is not None
    events = events_table(catalog)
    assert event_ids(events) == sorted({e["event_id"] for e in history.sent})
    assert committed_position(events, keys.EVENTS) == committed_position(stale, keys.EVENTS)
    ingester = Ingester(redis_client, catalog, LIMITS)  # ingest loses the next race: it tries again
    try:
        publish(*history.batch(4, duplicate_share=0))
        batch = ingester.read()
        compact(events_table(catalog), NOW)
        assert ingester.commit(batch).rows == 4
    finally:
        ingester.close()
    assert event_ids(events) == sorted({e["event_id"] for e in history.sent})


def test_a_compaction_whose_files_were_rewritten_meanwhile_is_abandoned(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(14))
    ingest_batches(redis_client, catalog, publish, history, 3)
    stale = events_table(catalog)
    candidates = plan_partitions(stale, NOW)
    assert compact(events_table(catalog), NOW)  # another maintenance process compacts first
    warehouse = {f for f in _on_disk(stale)}
    for candidate in candidates:
        try:
            _rewrite(stale, candidate)
        except Exception as exc:
            assert "removed some of its files" in str(exc)
        else:
            raise AssertionError("a rewrite of files no longer live was committed")
    assert _on_disk(stale) == warehouse  # its new files were deleted again
    assert event_ids(events_table(catalog)) == sorted({e["event_id"] for e in history.sent})


def test_the_ingest_process_maintains_between_rounds(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(16))
    ingest_batches(redis_client, catalog, publish, history, 3)
    publish(*history.batch(5, duplicate_share=0))  # for the round after the maintenance
    stop = threading.Event()
    done: list[Maintained] = []

    def maintenance() -> None:
        done.append(maintain(catalog, MaintenancePolicy(NOW), expiry=False))
        stop.set()  # the round already under way still runs: on a table the maintenance moved

    ingester = Ingester(redis_client, catalog, LIMITS)
    try:
        ingester.run(stop, maintenance=maintenance, maintain_every_s=1e-6)
    finally:
        ingester.close()
    assert len(done) == 1 and done[0].compacted
    events = events_table(catalog)
    head = events.current_snapshot()
    assert head is not None and head.summary is not None and head.summary.operation == Operation.APPEND
    assert event_ids(events) == sorted({e["event_id"] for e in history.sent})


def test_the_command(
    tmp_path: Path, redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish, settings: Settings
) -> None:
    ingest_batches(redis_client, catalog, publish, History(random.Random(15)), 3)
    home = ["--home", str(settings.home)]
    runner = CliRunner()
    result = runner.invoke(app, ["analytics", "maintain", "--compact", "--quiet-s", "0", "--min-files", "2", *home])
    assert result.exit_code == 0, result.output
    assert "darkroom.events occurred_day=" in result.output and "files →" in result.output
    result = runner.invoke(app, ["analytics", "maintain", "--expire", "--retention-s", "0", "--json", *home])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["compacted"] == [] and out["expired"][0]["table"] == "darkroom.events"
    assert out["expired"][0]["expired"] >= 3
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = runner.invoke(app, ["analytics", "maintain", "--home", str(blocked)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def _line(table: Table, stop: int) -> list[int]:
    """The snapshot ids from the head back to ``stop``, inclusive."""
    out = []
    snapshot = table.current_snapshot()
    while snapshot is not None:
        out.append(snapshot.snapshot_id)
        if snapshot.snapshot_id == stop:
            break
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    return out


def _paths(table: Table) -> set[str]:
    return {str(p) for p in _on_disk(table)}


def _on_disk(table: Table) -> set[Path]:
    root = Path(table.location().removeprefix("file://"))
    return {p for p in root.rglob("*.parquet")}
