"""Workers: process isolation, timeouts, progress, files in and out, shapes, deadline order."""

from __future__ import annotations

import os
from pathlib import Path

import darkroom.queue as dq
from darkroom.runtime.functions import Registry
from darkroom.runtime.task import TaskSpec
from darkroom.runtime.worker import Worker
from darkroom.storage.blobs import open_blobs
from tests.runtime import funcs
from tests.runtime.conftest import Platform


def test_process_functions_run_in_a_child_and_their_files_become_blobs(platform: Platform, tmp_path: Path) -> None:
    blobs = open_blobs(str(tmp_path / "blobs"))
    platform.start_engine()
    platform.start_worker(blobs=blobs)
    wf = funcs.registry.workflow("squares")  # any registered run start; we use the queue directly below
    assert wf.name == "squares"
    mid = platform.rq.enqueue(funcs.QUEUE, TaskSpec("write_file", {"text": "hello"}).encode())
    platform.until(lambda: platform.rq.get(funcs.QUEUE, mid).state == dq.State.COMPLETED)
    result = platform.rq.get(funcs.QUEUE, mid).result
    assert result is not None
    import json

    out = json.loads(result)
    assert out["pid"] != os.getpid()
    key = out["file"]["$blob"]
    assert blobs.get_bytes(key) == b"hello"
    assert not [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()], "scratch is removed after the call"


def test_a_process_function_past_its_timeout_is_killed_and_retried(platform: Platform) -> None:
    platform.start_worker()
    mid = platform.rq.enqueue(funcs.QUEUE, TaskSpec("sleeper", {"seconds": 30}).encode(), max_attempts=2)
    platform.until(lambda: platform.rq.get(funcs.QUEUE, mid).state == dq.State.ERRORED, timeout_s=60)
    msg = platform.rq.get(funcs.QUEUE, mid)
    assert msg.attempts == 2
    assert "timeout" in (msg.last_error or "")


def test_an_unknown_function_or_garbled_payload_fails_without_retry(platform: Platform) -> None:
    platform.start_worker()
    bad = platform.rq.enqueue(funcs.QUEUE, b"not json")
    unknown = platform.rq.enqueue(funcs.QUEUE, TaskSpec("nope", {}).encode())
    for mid in (bad, unknown):
        platform.until(lambda mid=mid: platform.rq.get(funcs.QUEUE, mid).state == dq.State.ERRORED)
        assert platform.rq.get(funcs.QUEUE, mid).attempts == 1
    assert "nope" in (platform.rq.get(funcs.QUEUE, unknown).last_error or "")


def test_progress_flows_into_the_step_status(platform: Platform, tmp_path: Path) -> None:
    platform.start_engine()
    platform.start_worker()
    gate = tmp_path / "gate"
    run = platform.workflows.start("gated", {"paths": [str(gate)]})
    platform.until(lambda: platform.workflows.get(run.id).steps["wait"].message == "waiting for the gate")
    step = platform.workflows.get(run.id).steps["wait"]
    assert step.state == "running"
    assert step.progress == 0.5
    gate.touch()
    assert platform.wait(run.id).state == "succeeded"


def test_workers_take_only_work_their_shape_allows(rq: dq.RedisQueue, tmp_path: Path) -> None:
    registry = Registry()
    registry.function("plain", queue="shaped")(lambda ctx: {"who": "plain"})
    registry.function("av1", queue="shaped", shape={"codec": "av1"})(lambda ctx: {"who": "av1"})
    cpu_only = Worker(rq, registry, scratch_root=tmp_path)
    from darkroom.runtime.queues import ensure_queues, task_metadata, worker_filters

    keys = ensure_queues(rq, registry)
    assert keys == {"shaped": ("codec",)}
    assert worker_filters({}, keys["shaped"]) == [{"codec": "*"}]
    assert worker_filters({"codec": "av1"}, keys["shaped"]) == [{"codec": "av1"}, {"codec": "*"}]
    rq.enqueue(
        "shaped",
        TaskSpec("av1", {}).encode(),
        id="needs-av1",
        metadata=task_metadata(registry.get("av1"), keys["shaped"]),
    )
    rq.enqueue(
        "shaped",
        TaskSpec("plain", {}).encode(),
        id="anyone",
        metadata=task_metadata(registry.get("plain"), keys["shaped"]),
    )
    leases = rq.dequeue("shaped", max_messages=10, where=worker_filters(cpu_only.shape, keys["shaped"])[0])
    assert [lease.message.id for lease in leases] == ["anyone"]
    assert rq.dequeue("shaped", max_messages=10, where={"codec": "av1"})[0].message.id == "needs-av1"


def test_tasks_of_the_more_urgent_workflow_run_first(platform: Platform) -> None:
    import time

    late = platform.workflows.start("squares", {"n": 0}, deadline=time.time() + 3600)
    urgent = platform.workflows.start("squares", {"n": 0}, deadline=time.time() + 60)
    engine = platform.start_engine()
    platform.until(lambda: platform.rq.count(funcs.QUEUE, dq.State.PENDING) == 2)
    first = platform.rq.dequeue(funcs.QUEUE)[0]
    assert first.message.id.startswith(urgent.id)
    assert engine.name
    assert late.id != urgent.id


def test_declared_permanent_errors_are_not_retried_and_scratch_is_removed(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    permanent = platform.rq.enqueue(funcs.QUEUE, TaskSpec("picky", {"value": -1}).encode())
    transient = platform.rq.enqueue(funcs.QUEUE, TaskSpec("picky", {"value": 1}).encode(), max_attempts=2)
    platform.until(lambda: platform.rq.get(funcs.QUEUE, permanent).state == dq.State.ERRORED)
    platform.until(lambda: platform.rq.get(funcs.QUEUE, transient).state == dq.State.ERRORED, timeout_s=60)
    assert platform.rq.get(funcs.QUEUE, permanent).attempts == 1
    assert "BadInput: value -1 is negative" in (platform.rq.get(funcs.QUEUE, permanent).last_error or "")
    assert platform.rq.get(funcs.QUEUE, transient).attempts == 2
    leftovers = [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()]
    assert leftovers == []


def test_a_thread_function_past_its_timeout_is_failed_and_asked_to_stop(platform: Platform) -> None:
    platform.start_worker()
    mid = platform.rq.enqueue(funcs.QUEUE, TaskSpec("dawdle", {}).encode(), max_attempts=2)
    platform.until(lambda: platform.rq.get(funcs.QUEUE, mid).state == dq.State.ERRORED, timeout_s=60)
    msg = platform.rq.get(funcs.QUEUE, mid)
    assert msg.attempts == 2
    assert "past its timeout of 0.3s" in (msg.last_error or "")


def test_workers_count_what_they_run(platform: Platform) -> None:
    from darkroom.observability import new_registry
    from darkroom.runtime.metrics import EngineMetrics, WorkerMetrics

    registry = new_registry(runtime=False)
    platform.start_engine(metrics=EngineMetrics(registry))
    platform.start_worker(metrics=WorkerMetrics(registry))
    assert platform.wait(platform.workflows.start("retrying", {"marker": "m"}).id).state == "succeeded"
    assert platform.wait(platform.workflows.start("squares", {"n": 3}).id).state == "succeeded"

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert value("darkroom_tasks_total", function="square", outcome="succeeded") == 3
    assert value("darkroom_tasks_total", function="flaky", outcome="retried") == 1
    assert value("darkroom_tasks_total", function="flaky", outcome="succeeded") == 1
    assert value("darkroom_task_duration_seconds_count", function="square") == 3
    assert value("darkroom_tasks_in_flight") == 0
    assert value("darkroom_workflows_finished_total", workflow="squares", state="succeeded") == 1
    assert value("darkroom_engine_tasks_scheduled_total") == 6


def test_a_worker_refuses_queues_no_function_uses(rq: dq.RedisQueue, tmp_path: Path) -> None:
    import threading

    import pytest

    from darkroom.runtime.errors import InvalidWorkflow

    worker = Worker(rq, funcs.registry, queues=["nobody-serves-this"], scratch_root=tmp_path)
    with pytest.raises(InvalidWorkflow, match="nobody-serves-this"):
        worker.run(threading.Event())
    with pytest.raises(InvalidWorkflow, match="no functions"):
        Worker(rq, Registry(), scratch_root=tmp_path).run(threading.Event())
