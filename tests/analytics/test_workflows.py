"""The jobs as workflows: a real engine and worker (threads) over the test Redis, a SQLite metadata
database and the real catalog; the trigger loop; ``darkroom analytics run`` on that platform."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from pyiceberg.catalog.sql import SqlCatalog
from typer.testing import CliRunner

import darkroom.queue as dq
from darkroom.analytics import EVENTS
from darkroom.analytics.jobs import EVENTS_CLEAN, JOBS, POST_DAILY_STATS, job_named
from darkroom.analytics.jobs.dag import downstream
from darkroom.analytics.scheduler import Reason, Scheduler, Triggers
from darkroom.analytics.state import processed_snapshot
from darkroom.analytics.workflows import (
    ALL,
    QUEUE,
    RUN_JOB,
    backfill_workflow_name,
    job_workflow,
    registry,
    workflow_name,
)
from darkroom.cli import app
from darkroom.config import Settings
from darkroom.platform.resources import task_resources
from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.operations import OperationStore
from darkroom.runtime.workflow import Workflows
from darkroom.storage.db import open_database
from tests.analytics.conftest import Publish
from tests.analytics.history import History
from tests.analytics.test_backfill import bad_edit, ran_history
from tests.analytics.test_jobs import assert_equals_full_recompute, ingest
from tests.runtime.conftest import Platform


@pytest.fixture
def jobs_settings(tmp_path: Path, redis_url: str) -> Settings:
    return Settings(home=tmp_path / "home", redis_url=redis_url)


def _platform(rq: dq.RedisQueue, settings: Settings, reg: Registry) -> Iterator[Platform]:
    db = open_database(settings)  # the database the CLI finds under the same home
    p = Platform(rq, db, reg, settings.home / "scratch")
    try:
        yield p
    finally:
        p.stop()
        db.dispose()


@pytest.fixture
def jobs_platform(rq: dq.RedisQueue, jobs_settings: Settings) -> Iterator[Platform]:
    """An engine and a worker serving the analytics registry (not started: a test starts them)."""
    yield from _platform(rq, jobs_settings, registry)


def _start(p: Platform, settings: Settings) -> None:
    p.start_engine()
    p.start_worker(resources=task_resources(settings), concurrency=4)


def _history(redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish, seed: int = 3, n: int = 20) -> None:
    ingest(redis_client, catalog, publish, History(random.Random(seed)).batch(n))


def _head(catalog: SqlCatalog, table: tuple[str, str]) -> int:
    snapshot = catalog.load_table(table).current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def test_a_job_runs_as_a_workflow_on_its_exclusive_queue_and_commits(
    jobs_platform: Platform, jobs_settings: Settings, catalog: SqlCatalog, redis_client: redis.Redis, publish: Publish
) -> None:
    _history(redis_client, catalog, publish)
    _start(jobs_platform, jobs_settings)
    run = jobs_platform.wait(jobs_platform.workflows.start(workflow_name("events_clean"), {}).id)
    assert run.state == "succeeded", run.error
    assert run.outputs["run"]["mode"] == "full" and run.outputs["run"]["rows_written"] > 0
    assert processed_snapshot(catalog.load_table(EVENTS_CLEAN)) == _head(catalog, EVENTS)
    assert jobs_platform.rq.get_queue(QUEUE).exclusivity_key == "job"
    task = jobs_platform.workflows.tasks(run.id)[0]
    assert jobs_platform.rq.get(QUEUE, task.message_id).metadata == {"job": "events_clean"}
    # Run again: the state has moved, so it commits nothing.
    again = jobs_platform.wait(jobs_platform.workflows.start(workflow_name("events_clean"), {}).id)
    assert again.outputs["run"]["mode"] == "no-op"


def test_two_runs_of_one_job_never_lease_at_once(
    jobs_platform: Platform, catalog: SqlCatalog, redis_client: redis.Redis, publish: Publish
) -> None:
    """Engine only: the test is the worker, leasing from the queue the engine fills."""
    _history(redis_client, catalog, publish)
    jobs_platform.start_engine()
    wf = jobs_platform.workflows
    for name in ("post_daily_stats", "post_daily_stats", "events_clean"):
        wf.start(workflow_name(name), {})
    jobs_platform.until(lambda: jobs_platform.rq.count(QUEUE, "pending") == 3)
    leases = jobs_platform.rq.dequeue(QUEUE, max_messages=10, lease_s=30)
    assert sorted(lease.message.metadata["job"] for lease in leases) == ["events_clean", "post_daily_stats"]
    assert jobs_platform.rq.dequeue(QUEUE, max_messages=10) == []  # the other post_daily_stats waits
    held = next(lease for lease in leases if lease.message.metadata["job"] == "post_daily_stats")
    jobs_platform.rq.fail(held, "given back by the test", retry=False)
    (later,) = jobs_platform.rq.dequeue(QUEUE, max_messages=10)
    assert later.message.metadata == {"job": "post_daily_stats"} and later.message.id != held.message.id


def test_a_failed_attempt_is_retried(
    rq: dq.RedisQueue, jobs_settings: Settings, catalog: SqlCatalog, redis_client: redis.Redis, publish: Publish,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The run function with its retry policy (a shorter backoff), whose first attempt fails."""
    failed_once = tmp_path / "failed-once"

    def flaky(ctx: TaskContext, job: str) -> object:
        if not failed_once.exists():
            failed_once.touch()
            raise ConnectionError("the catalog's database went away")
        return registry.get(RUN_JOB).fn(ctx, job)

    reg = Registry()
    reg.add(replace(registry.get(RUN_JOB), name="test.flaky_run_job", fn=flaky, retry_backoff_s=0.05))
    reg.add_workflow(job_workflow(job_named("events_clean"), fn="test.flaky_run_job"))
    _history(redis_client, catalog, publish)
    for p in _platform(rq, jobs_settings, reg):
        _start(p, jobs_settings)
        run = p.wait(p.workflows.start(workflow_name("events_clean"), {}).id)
        assert run.state == "succeeded", run.error
        assert run.steps["run"].attempts == 2
    assert processed_snapshot(catalog.load_table(EVENTS_CLEAN)) == _head(catalog, EVENTS)


def test_the_incremental_trigger_starts_a_job_when_its_source_moves(
    jobs_platform: Platform, jobs_settings: Settings, catalog: SqlCatalog, redis_client: redis.Redis, publish: Publish
) -> None:
    triggers = Triggers(incremental=True)  # no interval trigger
    scheduler = Scheduler(jobs_platform.workflows, catalog, triggers)
    assert scheduler.check() == []  # nothing ingested: no source has a snapshot
    _history(redis_client, catalog, publish)
    started = scheduler.check()
    assert {(s.job, s.reason) for s in started} == {
        ("events_clean", Reason.INCREMENTAL), ("post_daily_stats", Reason.INCREMENTAL)
    }  # fmt: skip
    assert scheduler.check() == []  # their runs are pending: no second one
    _start(jobs_platform, jobs_settings)
    for s in started:
        assert jobs_platform.wait(s.workflow_id).state == "succeeded"
    # events_clean's commit is the new snapshot of the downstream jobs' source
    downstream = scheduler.check()
    assert sorted(s.job for s in downstream) == ["pipeline_sla", "trending_tags"]
    for s in downstream:
        assert jobs_platform.wait(s.workflow_id).state == "succeeded"
    assert scheduler.check() == []  # every job is at its source's head
    _history(redis_client, catalog, publish, seed=4, n=5)
    assert sorted(s.job for s in scheduler.check()) == ["events_clean", "post_daily_stats"]


def test_a_restarted_trigger_loop_remembers_the_snapshots_it_started_runs_for(
    jobs_platform: Platform, catalog: SqlCatalog, redis_client: redis.Redis, publish: Publish
) -> None:
    # as the platform wires it: runs with operations, whose labels carry the source snapshot
    workflows = Workflows(
        jobs_platform.rq, jobs_platform.db, jobs_platform.registry, operations=OperationStore(jobs_platform.db)
    )
    _history(redis_client, catalog, publish)
    first = Scheduler(workflows, catalog, Triggers()).check()
    assert sorted(s.job for s in first) == ["events_clean", "post_daily_stats"]
    jobs_platform.start_engine()  # no worker: the runs end canceled, their snapshot never processed
    for s in first:
        jobs_platform.workflows.cancel(s.workflow_id, "failed for good, as far as the loop can tell")
        assert jobs_platform.wait(s.workflow_id).state == "canceled"
    restarted = Scheduler(workflows, catalog, Triggers())
    assert restarted.check() == []  # the same source snapshot: not started again
    _history(redis_client, catalog, publish, seed=4, n=5)
    assert sorted(s.job for s in restarted.check()) == ["events_clean", "post_daily_stats"]


def test_the_interval_trigger_starts_a_job_on_its_interval(
    jobs_platform: Platform, catalog: SqlCatalog, jobs_settings: Settings
) -> None:
    now = [1_000.0]
    settings = replace(jobs_settings, analytics_job_interval_s=0.0, analytics_job_intervals="trending_tags=60")
    triggers = replace(Triggers.from_settings(settings), incremental=False)
    scheduler = Scheduler(jobs_platform.workflows, catalog, triggers, clock=lambda: now[0])
    assert scheduler.check() == []
    now[0] += 59.9
    assert scheduler.check() == []
    now[0] += 0.1
    (started,) = scheduler.check()
    assert (started.job, started.reason) == ("trending_tags", Reason.INTERVAL)
    now[0] += 600
    assert scheduler.check() == []  # its run is still pending (no engine here)


def test_trigger_settings_name_a_bad_entry(jobs_settings: Settings) -> None:
    from darkroom.analytics.errors import InvalidTriggerConfig

    for value, named in (("daily_magic=5", "'daily_magic=5' names no job"), ("events_clean=-1", "'events_clean=-1'")):
        with pytest.raises(InvalidTriggerConfig, match=named):
            Triggers.from_settings(replace(jobs_settings, analytics_job_intervals=value))
    assert (
        Triggers.from_settings(replace(jobs_settings, analytics_job_intervals=" events_clean = 7 ")).interval_s[
            "events_clean"
        ]
        == 7.0
    )


@pytest.mark.slow  # a platform, every job, twice or more
def test_the_command_runs_jobs_on_the_platform(
    jobs_platform: Platform, jobs_settings: Settings, catalog: SqlCatalog, redis_client: redis.Redis, publish: Publish,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name in [k for k in os.environ if k.startswith("DARKROOM_")]:
        monkeypatch.delenv(name)
    _history(redis_client, catalog, publish)
    _start(jobs_platform, jobs_settings)
    cli, where = CliRunner(), ["--home", str(jobs_settings.home), "--url", str(jobs_settings.redis_url)]
    ran = cli.invoke(app, ["analytics", "run", "all", *where, "--json"])
    assert ran.exit_code == 0, ran.output
    assert [r["mode"] for r in json.loads(ran.output)] == ["full"] * len(JOBS)
    assert processed_snapshot(catalog.load_table(POST_DAILY_STATS)) == _head(catalog, EVENTS)
    shown = cli.invoke(app, ["analytics", "run", "post_daily_stats", *where])
    assert shown.exit_code == 0 and "post_daily_stats: no-op" in shown.output, shown.output

    submitted = cli.invoke(app, ["analytics", "run", "trending_tags", "--no-wait", *where])
    assert submitted.exit_code == 0, submitted.output
    workflow_id = submitted.output.strip()
    assert workflow_id.startswith("wf_")
    assert jobs_platform.wait(workflow_id).name == workflow_name("trending_tags")

    unknown = cli.invoke(app, ["analytics", "run", "daily_magic", *where])
    assert unknown.exit_code == 1 and "no analytics job 'daily_magic'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1


def test_the_command_without_a_platform_is_one_line(tmp_path: Path) -> None:
    gone = CliRunner().invoke(app, ["analytics", "run", "all", "--home", str(tmp_path), "--url", "redis://127.0.0.1:1"])
    assert gone.exit_code == 1 and len(gone.output.strip().splitlines()) == 1, gone.output


@pytest.mark.slow  # a platform, every job, twice or more
def test_the_command_backfills_a_job_and_its_downstream_jobs(
    jobs_platform: Platform, jobs_settings: Settings, catalog: SqlCatalog, redis_client: redis.Redis, publish: Publish,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name in [k for k in os.environ if k.startswith("DARKROOM_")]:
        monkeypatch.delenv(name)
    day = ran_history(redis_client, catalog, publish)
    clean = job_named("events_clean")
    bad_edit(catalog, clean, day)
    _start(jobs_platform, jobs_settings)
    where = ["--home", str(jobs_settings.home), "--url", str(jobs_settings.redis_url)]
    ok = CliRunner().invoke(app, ["analytics", "backfill", "events_clean", "--since", day.isoformat(), *where])
    assert ok.exit_code == 0, ok.output
    for job in ("events_clean", "trending_tags", "pipeline_sla"):
        assert f"{job}: backfilled from {day.isoformat()}" in ok.output
    for job in (clean, *downstream(clean, JOBS)):
        assert_equals_full_recompute(catalog, job)


def test_the_triggers_leave_alone_the_jobs_a_pending_run_covers(
    jobs_platform: Platform, catalog: SqlCatalog, redis_client: redis.Redis, publish: Publish
) -> None:
    _history(redis_client, catalog, publish)
    scheduler = Scheduler(jobs_platform.workflows, catalog, Triggers())
    jobs_platform.workflows.start(backfill_workflow_name("events_clean"), {"since": "2026-12-01"})
    assert [s.job for s in scheduler.check()] == ["post_daily_stats"]  # the backfill covers events_clean's DAG
    jobs_platform.workflows.start(ALL, {})
    assert scheduler.check() == []
