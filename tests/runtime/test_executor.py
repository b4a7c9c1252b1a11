"""Workers keep every slot fed across queues; executor="process" runs bodies in warm children."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import Executor, Function, Registry
from darkroom.runtime.task import TaskSpec
from tests.runtime import pool_funcs
from tests.runtime.conftest import Platform


@pytest.fixture
def pool_platform(rq: dq.RedisQueue, sqlite_engine: sa.Engine, tmp_path: Path) -> Iterator[Platform]:
    p = Platform(rq, sqlite_engine, pool_funcs.registry, tmp_path / "scratch")
    yield p
    p.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _state(p: Platform, mid: str, queue: str = pool_funcs.QUEUE_A) -> dq.State:
    state = p.rq.get(queue, mid).state
    assert state is not None
    return state


def test_every_slot_runs_work_from_any_queue(pool_platform: Platform) -> None:
    """Four slots, work on two queues, the second queue's arriving while the first's run: the
    barrier opens only when four tasks run at once, so the worker must have filled every slot."""
    p = pool_platform
    pool_funcs.BARRIERS["four"] = threading.Barrier(4)
    p.start_worker(concurrency=4, wait_s=10.0)  # longer than the barrier waits: only a wake-up fills the slots
    ids = [p.rq.enqueue(pool_funcs.QUEUE_A, TaskSpec("meet_a", {"barrier": "four"}).encode()) for _ in range(2)]
    p.until(lambda: p.rq.count(pool_funcs.QUEUE_A, dq.State.RUNNING) == 2)
    ids += [p.rq.enqueue(pool_funcs.QUEUE_B, TaskSpec("meet_b", {"barrier": "four"}).encode()) for _ in range(2)]
    for k, mid in enumerate(ids):
        queue = pool_funcs.QUEUE_A if k < 2 else pool_funcs.QUEUE_B
        p.until(lambda mid=mid, queue=queue: _state(p, mid, queue).terminal)
        assert p.rq.get(queue, mid).state == dq.State.COMPLETED, p.rq.get(queue, mid).last_error


def test_process_executor_runs_in_warm_children(pool_platform: Platform) -> None:
    p = pool_platform
    worker = p.start_worker(concurrency=4, processes=2)
    ids = [p.rq.enqueue(pool_funcs.QUEUE_A, TaskSpec("crunch", {"rounds": 1000 + i}).encode()) for i in range(12)]
    for mid in ids:
        p.until(lambda mid=mid: _state(p, mid).terminal)
    outs = [json.loads(p.rq.get(pool_funcs.QUEUE_A, mid).result or b"{}") for mid in ids]
    pids = {out["pid"] for out in outs}
    assert os.getpid() not in pids
    assert len(pids) <= 2  # twelve calls, at most two children: they are kept between calls
    assert worker._children is not None and worker._children.processes == 2


def test_process_executor_reports_progress_and_is_canceled(pool_platform: Platform, tmp_path: Path) -> None:
    p = pool_platform
    p.start_engine()
    worker = p.start_worker(concurrency=2, processes=1)
    pid_file = tmp_path / "pid"
    run = p.workflows.start("holding", {"gate": str(tmp_path / "never"), "pid_file": str(pid_file)})
    p.until(lambda: p.workflows.get(run.id).steps["hold"].message == "holding in a child")
    assert p.workflows.get(run.id).steps["hold"].progress == 0.5
    child = int(pid_file.read_text())
    assert child != os.getpid()
    p.workflows.cancel(run.id)
    assert p.wait(run.id).state == "canceled"
    # the function saw the cancel (check_cancelled raised in the child), so its child serves again
    mid = p.rq.enqueue(pool_funcs.QUEUE_A, TaskSpec("crunch", {"rounds": 10}).encode())
    p.until(lambda: _state(p, mid).terminal)
    assert json.loads(p.rq.get(pool_funcs.QUEUE_A, mid).result or b"{}")["pid"] == child
    assert worker._children is not None


def test_a_process_function_that_ignores_its_timeout_is_killed(pool_platform: Platform, tmp_path: Path) -> None:
    p = pool_platform
    worker = p.start_worker(concurrency=2, processes=1)
    pid_file = tmp_path / "pid"
    mid = p.rq.enqueue(pool_funcs.QUEUE_A, TaskSpec("stubborn", {"pid_file": str(pid_file)}).encode(), max_attempts=1)
    p.until(lambda: _state(p, mid) == dq.State.ERRORED, timeout_s=60)
    assert "timeout of 1s" in (p.rq.get(pool_funcs.QUEUE_A, mid).last_error or "")
    assert not _alive(int(pid_file.read_text()))
    # a fresh child takes the next call
    after = p.rq.enqueue(pool_funcs.QUEUE_A, TaskSpec("crunch", {"rounds": 10}).encode())
    p.until(lambda: _state(p, after) == dq.State.COMPLETED)
    assert worker._children is not None and worker._children.started == 1


def test_executor_is_an_enum_and_bad_values_are_named() -> None:
    f = Function("f", lambda ctx: None, executor="process")  # type: ignore[arg-type]
    assert f.executor is Executor.PROCESS and not f.in_thread
    with pytest.raises(InvalidWorkflow, match="'gpu'"):
        Function("f", lambda ctx: None, executor="gpu")  # type: ignore[arg-type]
    with pytest.raises(InvalidWorkflow, match="isolation='process'"):
        Function("f", lambda ctx: None, isolation="process", executor=Executor.PROCESS)
    with pytest.raises(InvalidWorkflow, match="256"):
        from darkroom.runtime.process_pool import ProcessPool

        ProcessPool(257)
    assert Registry().queues() == []
