"""A real run through the engine and a worker (real Redis, SQLite): step and workflow durations,
lateness by priority, media frames counted from the worker's thread and from a child process, and
the JSON log lines of a task carrying its workflow, step and task ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.observability import new_registry
from darkroom.observability.logs import configure_logging
from darkroom.runtime.metrics import EngineMetrics, WorkerMetrics
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.workflow import Engine
from tests.runtime import telemetry_funcs
from tests.runtime.conftest import Platform


@pytest.fixture
def platform(rq: dq.RedisQueue, sqlite_engine: sa.Engine, tmp_path: Path) -> Iterator[Platform]:
    p = Platform(rq, sqlite_engine, telemetry_funcs.registry, tmp_path / "scratch")
    yield p
    p.stop()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("json", stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_a_run_records_its_steps_its_lateness_its_frames_and_logs_its_ids(
    platform: Platform, log_lines: io.StringIO
) -> None:
    registry = new_registry(runtime=False)
    platform.start_engine(metrics=EngineMetrics(registry))
    platform.start_worker(metrics=WorkerMetrics(registry))
    run = platform.wait(platform.workflows.start("telemetry", {"text": 'hi\n{"forged": 1}'}, priority="batch").id)
    assert run.state == "succeeded"
    # a second run already past its deadline: its steps end late
    late = platform.workflows.start("telemetry", {"text": "late"}, priority="interactive", deadline=1.0)
    assert platform.wait(late.id).state == "succeeded"

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert value("darkroom_workflow_duration_seconds_count", workflow="telemetry", state="succeeded") == 2
    assert value("darkroom_workflows_finished_total", workflow="telemetry", state="succeeded") == 2
    for fn in ("announce", "encode_in_child"):
        assert value("darkroom_step_duration_seconds_count", function=fn) == 2
        assert value("darkroom_step_lateness_seconds_count", function=fn, priority="batch") == 1
        assert value("darkroom_step_lateness_seconds_bucket", function=fn, priority="batch", le="0.0") == 1
        assert value("darkroom_step_lateness_seconds_bucket", function=fn, priority="interactive", le="0.0") == 0
        assert value("darkroom_step_lateness_seconds_count", function=fn, priority="interactive") == 1
    assert value("darkroom_media_frames_total", codec="h264") == 60
    assert value("darkroom_media_frames_total", codec="vp9") == 48  # from the child process
    assert value("darkroom_media_encode_seconds_total", codec="vp9") == 4.0

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    said = [line for line in lines if line["logger"] == "tests.runtime.telemetry"]
    assert {line["workflow_id"] for line in said} == {run.id, late.id}
    first = next(line for line in said if line["workflow_id"] == run.id)
    assert first["step"] == "announce"
    assert first["task_id"].startswith(f"{run.id}:announce:")
    assert first["message"] == 'announcing hi\n{"forged": 1}'  # one line, escaped


def test_a_worker_advancing_its_own_runs_times_them_too(platform: Platform) -> None:
    registry = new_registry(runtime=False)
    started = platform.workflows.start("telemetry", {"text": "alone"})
    ensure_queues(platform.rq, platform.registry)
    assert Engine(platform.rq, platform.db, platform.registry).run_once() == 1  # the first tick; no engine after
    engine = Engine(platform.rq, platform.db, platform.registry, metrics=EngineMetrics(registry))
    platform.start_worker(metrics=WorkerMetrics(registry), engine=engine)
    assert platform.wait(started.id).state == "succeeded"
    assert (
        registry.get_sample_value(
            "darkroom_workflow_duration_seconds_count", {"workflow": "telemetry", "state": "succeeded"}
        )
        == 1
    )
    assert registry.get_sample_value("darkroom_step_duration_seconds_count", {"function": "announce"}) == 1
