"""``darkroom analytics backfill``: a target recomputed from a day on, then its downstream jobs.

Real Redis stream, real ingest, real SQLite catalog. A "bad manual edit" is a commit made by hand
(no job state): the rows from a day on replaced by every other one of them.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

import pyarrow as pa
import pytest
import redis
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.types import DateType
from typer.testing import CliRunner

from darkroom.analytics.jobs import EVENTS_CLEAN, JOBS, Job, job_named, run, target_table
from darkroom.analytics.jobs.backfill import BACKFILL_SINCE_KEY, backfill
from darkroom.analytics.jobs.dag import downstream
from darkroom.analytics.jobs.filters import at_least, day_start_us, instant
from darkroom.cli import app
from tests.analytics.conftest import Publish
from tests.analytics.history import History
from tests.analytics.test_jobs import assert_equals_full_recompute, ingest, rows_of


def _from(job: Job, day: dt.date) -> tuple[object, str]:
    """The filter of ``job``'s target rows from ``day`` on, spelt here rather than by the code under test."""
    column = job.time_column
    bound = day.isoformat() if isinstance(job.schema.find_type(column), DateType) else instant(day_start_us(day))
    return at_least(column, bound), bound


def bad_edit(catalog: SqlCatalog, job: Job, day: dt.date) -> None:
    target = target_table(catalog, job)
    where, _ = _from(job, day)
    rows = target.scan(row_filter=where).to_arrow()  # type: ignore[arg-type]
    assert rows.num_rows >= 2, f"{job.name}: the history should have rows from {day}"
    kept = rows.take(pa.array(range(0, rows.num_rows, 2)))
    target.overwrite(kept, overwrite_filter=where)  # type: ignore[arg-type]


def _middle_day(catalog: SqlCatalog) -> dt.date:
    days = sorted(set(target_table(catalog, job_named("post_daily_stats")).scan().to_arrow().column("day").to_pylist()))
    return days[len(days) // 2]


def ran_history(redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish) -> dt.date:
    ingest(redis_client, catalog, publish, History(random.Random(5)).batch(80))
    for job in JOBS:
        run(job, catalog)
    return _middle_day(catalog)


def test_the_dag_lists_who_reads_whom() -> None:
    names = {j.name: [d.name for d in downstream(j, JOBS)] for j in JOBS}
    assert names == {
        "events_clean": ["trending_tags", "pipeline_sla"],
        "post_daily_stats": [],
        "trending_tags": [],
        "pipeline_sla": [],
    }


@pytest.mark.parametrize("name", ["post_daily_stats", "trending_tags"])
def test_a_backfill_after_a_bad_edit_restores_a_full_recompute(
    name: str, redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    day = ran_history(redis_client, catalog, publish)
    job = job_named(name)
    before = rows_of(target_table(catalog, job).scan().to_arrow(), job)
    bad_edit(catalog, job, day)
    with pytest.raises(AssertionError):
        assert_equals_full_recompute(catalog, job)
    _, done = backfill(job, JOBS, catalog, day)
    assert [(b.job, b.how) for b in done] == [(name, "backfilled")]
    assert_equals_full_recompute(catalog, job)  # rows and the recorded state
    assert rows_of(target_table(catalog, job).scan().to_arrow(), job) == before
    head = target_table(catalog, job).current_snapshot()
    assert head is not None and head.summary is not None
    assert head.summary.additional_properties[BACKFILL_SINCE_KEY] == day.isoformat()


def test_a_backfill_reruns_the_downstream_jobs(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    day = ran_history(redis_client, catalog, publish)
    clean = job_named("events_clean")
    bad_edit(catalog, clean, day)
    # The downstream jobs run on the bad rows (a full recompute: the edit is no append) and agree with them.
    for job in downstream(clean, JOBS):
        run(job, catalog)
        assert_equals_full_recompute(catalog, job)
    # Later events arrive meanwhile: the catch-up takes them in before the backfill.
    ingest(redis_client, catalog, publish, History(random.Random(6)).batch(10))
    caught_up, done = backfill(clean, JOBS, catalog, day)
    assert [r.job for r in caught_up] == ["events_clean", "trending_tags", "pipeline_sla"]
    assert [(b.job, b.how) for b in done] == [
        ("events_clean", "backfilled"),
        ("trending_tags", "backfilled"),
        ("pipeline_sla", "backfilled"),
    ]
    for job in (clean, *downstream(clean, JOBS)):
        assert_equals_full_recompute(catalog, job)
    clean_head = catalog.load_table(EVENTS_CLEAN).current_snapshot()
    assert clean_head is not None and done[1].source_snapshot_id == clean_head.snapshot_id
    # The next run of a downstream job has nothing left to do.
    assert run(job_named("trending_tags"), catalog).mode == "no-op"


def test_the_command_refuses_a_bad_date_or_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before it reaches any platform (the backfill itself: tests/analytics/test_workflows.py)."""
    for name in [k for k in os.environ if k.startswith("DARKROOM_")]:
        monkeypatch.delenv(name)
    home = f"{tmp_path}/home"
    cli = CliRunner()
    for argv, reason in (
        (["post_daily_stats", "--since", "2026-13-01"], "--since '2026-13-01' is not a date"),
        (["post_daily_stats", "--since", "yesterday"], "--since 'yesterday' is not a date"),
        (["daily_magic", "--since", "2026-12-01"], "no analytics job 'daily_magic'"),
    ):
        bad = cli.invoke(app, ["analytics", "backfill", *argv, "--home", home])
        assert bad.exit_code == 1 and reason in bad.output, bad.output
        assert len(bad.output.strip().splitlines()) == 1, bad.output
