"""Workflows end to end on one machine: DAG with map/reduce, retries, failures, cancel."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.conftest import Platform


def test_map_reduce_completes_with_the_right_result(platform: Platform) -> None:
    platform.start_engine()
    platform.start_worker(concurrency=4)
    run = platform.workflows.start("squares", {"n": 50})
    done = platform.wait(run.id)
    assert done.state == "succeeded", done.error
    assert done.outputs == {"sum": sum(i * i for i in range(50)), "order": list(range(50))}
    assert done.progress == 1.0
    assert {s.name: (s.state, s.items_total) for s in done.steps.values()} == {
        "split": ("succeeded", 1),
        "square": ("succeeded", 50),
        "total": ("succeeded", 1),
    }
    tasks = platform.workflows.tasks(run.id, "square")
    assert [t.state for t in tasks] == ["succeeded"] * 50
    assert all(t.worker and t.started_at and t.ended_at for t in tasks)


def test_empty_map_goes_straight_to_the_reduce(platform: Platform) -> None:
    platform.start_engine()
    platform.start_worker()
    done = platform.wait(platform.workflows.start("squares", {"n": 0}).id)
    assert done.state == "succeeded"
    assert done.outputs == {"sum": 0, "order": []}


def test_a_failing_attempt_is_retried(platform: Platform) -> None:
    platform.start_engine()
    platform.start_worker()
    done = platform.wait(platform.workflows.start("retrying", {"marker": "m"}).id)
    assert done.state == "succeeded"
    assert done.outputs == {"attempt": 2}
    assert done.steps["flaky"].attempts == 2


def test_a_permanent_error_fails_the_run_and_skips_what_follows(platform: Platform) -> None:
    platform.start_engine()
    platform.start_worker()
    done = platform.wait(platform.workflows.start("failing", {}).id)
    assert done.state == "failed"
    assert "this input can never work" in (done.error or "")
    assert done.steps["broken"].state == "failed"
    assert done.steps["broken"].attempts == 1
    assert done.steps["after"].state == "skipped"


def test_cancel_stops_the_remaining_tasks(platform: Platform, tmp_path: Path) -> None:
    platform.start_engine()
    platform.start_worker(concurrency=2)
    gates = [str(tmp_path / f"gate{i}") for i in range(6)]
    run = platform.workflows.start("gated", {"paths": gates})
    # wait until two tasks run (the worker's two slots), then cancel
    platform.until(lambda: sum(t.state == "running" for t in platform.workflows.tasks(run.id)) == 2)
    platform.workflows.cancel(run.id)
    done = platform.wait(run.id)
    assert done.state == "canceled"
    tasks = platform.workflows.tasks(run.id)
    assert [t.state for t in tasks] == ["canceled"] * 6
    for t in tasks:
        assert platform.rq.get(t.queue, t.message_id).state == "canceled"
