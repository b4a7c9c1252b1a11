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
    assert done.progress == 0.0  # ended is not done: nothing succeeded


def test_cancel_stops_the_remaining_tasks(platform: Platform, tmp_path: Path) -> None:
    platform.start_engine()
    platform.start_worker(concurrency=2)
    gates = [str(tmp_path / f"gate{i}") for i in range(6)]
    run = platform.workflows.start("gated", {"paths": gates})
    # wait until two tasks run (the worker's two slots), then cancel
    platform.until(lambda: sum(t.state == "running" for t in platform.workflows.tasks(run.id)) == 2)
    platform.workflows.cancel(run.id)
    done = platform.wait(run.id)
    assert done.state == "canceled" and done.progress < 1.0
    tasks = platform.workflows.tasks(run.id)
    assert [t.state for t in tasks] == ["canceled"] * 6
    # the pass commits the run's end, then sends the cancels (docs/runtime.md, the pass's
    # transaction boundaries): the queue follows the rows a moment later
    platform.until(lambda: all(platform.rq.get(t.queue, t.message_id).state == "canceled" for t in tasks))


def test_a_step_past_its_timeout_fails_the_run(platform: Platform, tmp_path: Path) -> None:
    platform.start_engine()
    platform.start_worker()
    done = platform.wait(platform.workflows.start("timing-out", {"gate": str(tmp_path / "never")}).id)
    assert done.state == "failed"
    assert done.steps["wait"].state == "failed"
    assert "timed out after 0.5s" in (done.steps["wait"].error or "")
    (task,) = platform.workflows.tasks(done.id)
    assert task.state == "canceled"
    platform.until(lambda: platform.rq.get(task.queue, task.message_id).state == "canceled")  # sent after the commit


def test_outputs_that_do_not_resolve_fail_the_run(platform: Platform) -> None:
    platform.start_engine()
    platform.start_worker()
    done = platform.wait(platform.workflows.start("bad-output", {}).id)
    assert done.state == "failed"
    assert "missing" in (done.error or "")


def test_duplicate_reports_and_ticks_change_nothing(platform: Platform) -> None:
    engine = platform.start_engine()
    platform.start_worker()
    run = platform.workflows.start("squares", {"n": 4})
    done = platform.wait(run.id)
    assert done.state == "succeeded"
    # replay every report a worker sent (as a redelivery after a crash would) and pass again
    from darkroom.runtime.task import TaskOutcome
    from darkroom.runtime.workflow.inbox import Report

    replay = [
        Report(run.id, f"{t.step}#{t.idx}:r", TaskOutcome("succeeded", 1, "w", 0.0, output=t.output).encode(), 0.0)
        for t in platform.workflows.tasks(run.id)
    ]
    platform.workflows.inbox.post(replay)
    engine.advance(run.id)
    again = platform.workflows.get(run.id)
    assert (again.state, again.outputs, again.version) == (done.state, done.outputs, done.version)
    assert len(platform.workflows.tasks(run.id)) == 6


def test_starting_with_the_same_id_returns_the_first_run(platform: Platform) -> None:
    first = platform.workflows.start("squares", {"n": 2}, id="wf_fixed")
    second = platform.workflows.start("squares", {"n": 99}, id="wf_fixed")
    assert second.id == first.id and second.inputs == {"n": 2}
    platform.start_engine()
    platform.start_worker()
    assert platform.wait("wf_fixed").outputs["sum"] == 1


def test_bad_inputs_are_refused_before_anything_is_written(platform: Platform) -> None:
    import pytest

    from darkroom.runtime.errors import InvalidWorkflow, WorkflowNotFound

    with pytest.raises(InvalidWorkflow, match="missing inputs \\['n'\\]"):
        platform.workflows.start("squares", {})
    with pytest.raises(InvalidWorkflow, match="unknown inputs \\['m'\\]"):
        platform.workflows.start("squares", {"n": 1, "m": 2})
    with pytest.raises(InvalidWorkflow, match="not JSON"):
        platform.workflows.start("squares", {"n": object()})
    with pytest.raises(WorkflowNotFound, match="nope"):
        platform.workflows.start("nope", {})
    assert platform.workflows.runs() == []
