"""The workflow engine's events as the platform publishes them (its outbox sink, then the social
relay) reach ``darkroom.events`` through the real ingest, and ``pipeline_sla`` computes from them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import redis
from pyiceberg.catalog.sql import SqlCatalog

from darkroom.analytics import BatchLimits, Ingester, events_table
from darkroom.analytics.jobs import job_named, run, target_table
from darkroom.platform.run_events import OutboxRunEvents
from darkroom.runtime.workflow.endings import Ending, RunEnded, StepEnded
from darkroom.runtime.workflow.run_events import run_events
from darkroom.runtime.workflow.store import RunRow
from darkroom.social.relay import Relay
from darkroom.storage.db import open_database
from tests.analytics.history import T0

LIMITS = BatchLimits(max_batch_events=1000, max_batch_s=0.05, block_ms=1)


def _run(i: int, late_s: float) -> tuple[RunRow, list[Ending]]:
    """A finished ``video`` run of two steps (2 s and 4 s long) that ended ``late_s`` after its deadline."""
    created = T0 + 100 * i
    ended = created + 10
    run = RunRow(f"wf_{i}", "video", "succeeded", {}, "interactive", ended - late_s, created, ended)
    steps: list[Ending] = [
        StepEnded("probe", "probe", run.priority, "succeeded", 2.0, 0.0, created + 2),
        StepEnded("encode", "encode", run.priority, "succeeded", 4.0, 0.0, created + 6),
    ]
    return run, [*steps, RunEnded(run.name, "succeeded", 10.0, late_s, ended)]


def test_run_events_are_ingested_and_pipeline_sla_reads_them(
    redis_client: redis.Redis, catalog: SqlCatalog, tmp_path: Path
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        events = [e for i, late_s in enumerate((-3.0, 5.0)) for e in run_events(*_run(i, late_s))]
        with db.begin() as conn:
            OutboxRunEvents().record(conn, events)
        assert Relay(db, redis_client).publish_once() == len(events)
    finally:
        db.dispose()
    ingester = Ingester(redis_client, catalog, LIMITS)
    try:
        done = ingester.ingest_once()
    finally:
        ingester.close()
    assert (done.rows, done.dead_lettered) == (len(events), 0)
    rows = events_table(catalog).scan().to_arrow().to_pylist()
    assert sorted(r["event_id"] for r in rows) == sorted(e.event_id for e in events)
    assert {r["type"] for r in rows} == {"step.finished", "workflow.finished"}
    assert all(r["account_id"] is None and r["post_id"] is None for r in rows)
    for job in ("events_clean", "pipeline_sla"):
        run(job_named(job), catalog)
    [sla] = target_table(catalog, job_named("pipeline_sla")).scan().to_arrow().to_pylist()
    assert sla["day"] == dt.datetime.fromtimestamp(T0, dt.UTC).date()
    assert (sla["workflow"], sla["priority"]) == ("video", "interactive")
    assert (sla["steps"], sla["step_p50_ms"]) == (4, 3000.0)  # 2000, 2000, 4000, 4000
    assert (sla["workflows"], sla["late"], sla["lateness_max_ms"]) == (2, 1, 5000)
    assert sla["lateness_p50_ms"] == 1000.0  # -3000 and 5000
