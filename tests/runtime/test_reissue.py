"""A pass whose queue work fails after its commit is made good by the next holder of the tick."""

from __future__ import annotations

from pathlib import Path

import pytest

import darkroom.queue as dq
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.workflow import Engine
from tests.runtime import funcs
from tests.runtime.conftest import Platform


def _pass_without_its_queue_work(platform: Platform, workflow: str, args: dict[str, object]) -> str:
    """Start a run and make its first pass while its function queue is missing: the pass commits,
    its enqueue is refused. Answers the run's id."""
    engine = Engine(platform.rq, platform.db, funcs.registry)
    engine.setup()
    run = platform.workflows.start(workflow, args)
    platform.rq.delete_queue(funcs.QUEUE)
    assert engine.run_once() == 1
    (task,) = platform.workflows.tasks(run.id)
    assert task.state == "pending"  # committed ...
    ensure_queues(platform.rq, funcs.registry)
    with pytest.raises(dq.MessageNotFound):  # ... and never enqueued
        platform.rq.get(task.queue, task.message_id)
    assert platform.workflows.get(run.id).state == "running"
    return run.id


def test_a_tick_delivered_again_reissues_the_message_and_the_timer_of_a_committed_pass(
    platform: Platform, tmp_path: Path
) -> None:
    # no worker: only the step's timer (2 s) can end this run, and the failed pass never armed it
    wid = _pass_without_its_queue_work(platform, "timing-out-later", {"gate": str(tmp_path / "never")})
    platform.start_engine()  # the failed pass's tick comes back after 1 s, delivered again
    (task,) = platform.workflows.tasks(wid)
    platform.until(lambda: _state(platform, task.queue, task.message_id) is not None)
    done = platform.wait(wid)
    assert done.state == "failed"
    assert "timed out after 2s" in (done.error or "")
    # the reissued message is the one the closed run then canceled (after the pass's commit: the
    # run reads failed a moment before its cancels are sent)
    platform.until(lambda: _state(platform, task.queue, task.message_id) is dq.State.CANCELED)


def test_the_reconciler_asks_for_a_missing_pending_message_instead_of_failing_its_task(platform: Platform) -> None:
    wid = _pass_without_its_queue_work(platform, "chain", {})
    engine = platform.start_engine()
    assert engine.reconcile() == 1  # one request to reissue, not a failure report
    platform.start_worker()
    done = platform.wait(wid)
    assert done.state == "succeeded", done.error
    tasks = platform.workflows.tasks(wid)
    assert [(t.step, t.state, t.attempts) for t in tasks] == [(f"s{k}", "succeeded", 1) for k in range(6)]


def _state(platform: Platform, queue: str, mid: str) -> dq.State | None:
    try:
        return platform.rq.get(queue, mid).state
    except dq.MessageNotFound:
        return None
