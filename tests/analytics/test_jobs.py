"""The incremental jobs against full recomputes, on a real Redis stream, the real ingest and a real
SQLite catalog: random histories (late events, duplicates offered to the ingest again, runs that
die before their commit, runs skipped so a change spans several snapshots, compactions of the
sources in between), and after them every target equals a full recompute of the same source, row
for row."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pytest
import redis
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, And

from darkroom.analytics import BatchLimits, Ingester, events_table
from darkroom.analytics.changes import capture
from darkroom.analytics.compaction import CompactionPolicy, compact
from darkroom.analytics.errors import UnknownSnapshot
from darkroom.analytics.jobs import JOBS, Job, Mode, commit, compute, job_named, plan, run, scans, target_table
from darkroom.analytics.jobs.filters import one_of, time_between
from darkroom.analytics.jobs.sql import run_sql
from darkroom.analytics.state import job_state, processed_snapshot
from tests.analytics.conftest import Publish
from tests.analytics.history import History

LIMITS = BatchLimits(max_batch_events=1000, max_batch_s=0.05, block_ms=1)


def ingest(redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish, entries: list[dict[str, str]]) -> None:
    publish(*entries)
    ingester = Ingester(redis_client, catalog, LIMITS)
    try:
        while ingester.ingest_once().snapshot_id is not None:
            pass
    finally:
        ingester.close()


def rows_of(table: pa.Table, job: Job) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: tuple(r[k] for k in job.key))


def assert_equals_full_recompute(catalog: SqlCatalog, job: Job) -> None:
    source = catalog.load_table(job.source)
    snapshot = source.current_snapshot()
    assert snapshot is not None
    target = target_table(catalog, job)
    assert processed_snapshot(target) == snapshot.snapshot_id, job.name
    expected = rows_of(job.full(source, snapshot.snapshot_id), job)
    assert rows_of(target.scan().to_arrow(), job) == expected, job.name


@pytest.mark.parametrize("seed", range(4))
def test_incremental_targets_equal_a_full_recompute(
    seed: int, redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    rng = random.Random(seed)
    history = History(rng)
    for _ in range(5):
        ingest(redis_client, catalog, publish, history.batch(rng.randint(1, 25)))
        for job in JOBS:
            action = rng.choices(["run", "skip", "crash"], weights=[6, 2, 2])[0]
            if action == "crash":  # the run's steps but the commit: a process that died before it
                p = plan(job, catalog)
                compute(p)
            elif action == "run":
                done = run(job, catalog)
                assert done.mode != Mode.FULL or done.reason == "first run", done.reason  # compaction included
        if rng.random() < 0.4:  # compaction of the sources: replace snapshots the jobs step over
            for name in ("events", "events_clean"):
                if catalog.table_exists(("darkroom", name)):
                    compact(catalog.load_table(("darkroom", name)), CompactionPolicy(min_files=2, quiet_s=0))
    for job in JOBS:
        done = run(job, catalog)
        assert done.mode != Mode.FULL or done.reason == "first run", done.reason
    for job in JOBS:
        assert_equals_full_recompute(catalog, job)
    assert target_table(catalog, job_named("post_daily_stats")).scan().to_arrow().num_rows > 0


def test_a_second_run_is_a_noop_and_commits_nothing(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    ingest(redis_client, catalog, publish, History(random.Random(1)).batch(20))
    first = [run(job, catalog) for job in JOBS]
    assert [r.mode for r in first] == [Mode.FULL] * len(JOBS)
    assert all(r.reason == "first run" for r in first)
    heads = [target_table(catalog, job).current_snapshot() for job in JOBS]
    again = [run(job, catalog) for job in JOBS]
    assert [r.mode for r in again] == [Mode.NOOP] * len(JOBS)
    assert [target_table(catalog, job).current_snapshot() for job in JOBS] == heads


def test_no_source_yet_is_a_noop(catalog: SqlCatalog) -> None:
    assert run(job_named("trending_tags"), catalog).mode == Mode.NOOP
    assert job_state(target_table(catalog, job_named("trending_tags"))) is None


def test_the_state_is_in_the_target_commit_and_a_stale_commit_is_refused(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(2))
    job = job_named("post_daily_stats")
    ingest(redis_client, catalog, publish, history.batch(15))
    run(job, catalog)
    ingest(redis_client, catalog, publish, history.batch(15))
    stale = plan(job, catalog)
    output = compute(stale)
    assert stale.mode == Mode.INCREMENTAL and output is not None
    done = run(job, catalog)  # another run of the job commits first
    assert done.mode == Mode.INCREMENTAL and done.files >= 1
    with pytest.raises(CommitFailedException):
        commit(stale, output)  # its target head moved: it would count the change twice
    head = target_table(catalog, job).current_snapshot()
    assert head is not None and head.summary is not None
    assert head.summary["darkroom.job.source-snapshot"] == str(done.source_snapshot_id)
    assert head.summary["darkroom.job.name"] == "post_daily_stats"
    assert_equals_full_recompute(catalog, job)


def test_the_change_range_comes_from_the_manifests(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(3))
    ingest(redis_client, catalog, publish, history.batch(10))
    events = events_table(catalog)
    first = events.current_snapshot()
    assert first is not None
    late = history.batch(6, late_share=0.5, duplicate_share=0)
    ingest(redis_client, catalog, publish, late)
    events.refresh()
    changes = capture(events, first.snapshot_id)
    assert not changes.full and changes.records == len(late)
    times = [round(float(e["occurred_at"]) * 1_000_000) for e in late]
    ranges = changes.ranges(events, "occurred_at")
    assert min(r.lower for r in ranges) == min(times) and max(r.upper for r in ranges) == max(times)
    assert len(ranges) == len(changes.files)  # one file per day partition the batch touched


def test_a_late_event_lands_in_its_day(redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish) -> None:
    history = History(random.Random(4))
    ingest(redis_client, catalog, publish, history.batch(10, late_share=0))
    job = job_named("post_daily_stats")
    run(job, catalog)
    post = history.posts[0]
    old = history.now - 3 * 86_400
    view = dict(history.batch(1, late_share=0, duplicate_share=0)[0], type="post.viewed", post_id=post, data="{}")
    view["occurred_at"] = repr(old)
    ingest(redis_client, catalog, publish, [view])
    assert run(job, catalog).mode == Mode.INCREMENTAL
    day = time.strftime("%Y-%m-%d", time.gmtime(old))
    rows = target_table(catalog, job).scan(row_filter=f"post_id = '{post}' AND day = '{day}'").to_arrow().to_pylist()
    assert len(rows) == 1 and rows[0]["impressions"] >= 1
    assert_equals_full_recompute(catalog, job)


def test_expired_history_and_deletes_fall_back_to_a_full_recompute(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(5))
    job = job_named("events_clean")
    ingest(redis_client, catalog, publish, history.batch(10))
    processed = run(job, catalog).source_snapshot_id
    ingest(redis_client, catalog, publish, history.batch(10))
    events = events_table(catalog)
    assert processed is not None
    events.maintenance.expire_snapshots().by_id(processed).commit()
    redo = run(job, catalog)
    assert redo.mode == Mode.FULL and redo.reason is not None and "expired" in redo.reason
    assert_equals_full_recompute(catalog, job)
    events.refresh()
    events.delete("type = 'post.viewed'")
    redo = run(job, catalog)
    assert redo.mode == Mode.FULL and redo.reason is not None and "not append-only" in redo.reason
    assert_equals_full_recompute(catalog, job)


def test_a_late_view_recomputes_no_window_and_no_day(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    """The range jobs recompute from the change's own events of their types, not its files'
    bounds: a late view reaches ``events_clean`` and ``post_daily_stats`` only."""
    history = History(random.Random(6))
    ingest(redis_client, catalog, publish, history.batch(20, late_share=0))
    for job in JOBS:
        run(job, catalog)
    view = dict(history.batch(1, late_share=0, duplicate_share=0)[0], type="post.viewed", post_id=history.posts[0])
    view.update(occurred_at=repr(history.now - 2 * 86_400), data="{}")
    ingest(redis_client, catalog, publish, [view])
    run(job_named("events_clean"), catalog)
    for name in ("trending_tags", "pipeline_sla"):
        p = plan(job_named(name), catalog)
        assert p.mode == Mode.INCREMENTAL, name
        output = compute(p)
        assert output is not None and output.rows.num_rows == 0 and output.replaces == AlwaysFalse(), name
    for job in JOBS:
        run(job, catalog)
        assert_equals_full_recompute(catalog, job)


def test_a_scan_planned_without_residuals_reads_what_pyiceberg_reads(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    history = History(random.Random(7))
    ingest(redis_client, catalog, publish, history.batch(20))
    events = events_table(catalog)
    first = events.current_snapshot()
    ingest(redis_client, catalog, publish, history.batch(20))
    events.refresh()
    assert first is not None
    since = time_between("occurred_at", round((history.now - 2 * 86_400) * 1e6), round(history.now * 1e6) + 1)
    row_filter = And(one_of("type", ("post.viewed", "post.created")), since)
    for snapshot_id in (first.snapshot_id, None):
        ours = scans.read(events, row_filter, snapshot_id, ("event_id", "type"))
        theirs = events.scan(row_filter=row_filter, snapshot_id=snapshot_id, selected_fields=("event_id", "type"))
        assert ours.num_rows > 0
        assert sorted(ours.to_pylist(), key=str) == sorted(theirs.to_arrow().to_pylist(), key=str)


def test_queries_on_several_threads_see_their_own_tables() -> None:
    def total(n: int) -> int:
        out = run_sql("SELECT sum(v) AS s FROM source", source=pa.table({"v": list(range(n))}))
        return int(out.column("s")[0].as_py())

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(total, range(1, 41))) == [n * (n - 1) // 2 for n in range(1, 41)]


def test_a_scan_pinned_to_an_unknown_snapshot_names_it(catalog: SqlCatalog) -> None:
    events = events_table(catalog)
    assert scans.read(events, AlwaysTrue(), None).num_rows == 0  # an empty table: no snapshot, no rows
    with pytest.raises(UnknownSnapshot, match="123"):
        scans.read(events, AlwaysTrue(), 123)
