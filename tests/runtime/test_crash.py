"""Killed engines and workers: nothing is lost, nothing finishes twice, no two engines overlap."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import darkroom.queue as dq
from darkroom.runtime.directory import WorkerDirectory
from darkroom.runtime.files import BLOB
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.workflow import Engine
from darkroom.runtime.workflow.store import RunRow
from darkroom.storage.blobs import open_blobs
from tests.runtime import funcs
from tests.runtime.conftest import Platform

pytestmark = pytest.mark.slow


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.runtime.procs", *args], cwd=Path(__file__).parents[2])


def _db_url(platform: Platform) -> str:
    return platform.db.url.render_as_string(hide_password=False)


def _redis_url(platform: Platform) -> str:
    kw = platform.rq.redis.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix://:{kw.get('password') or ''}@{kw['path']}?db={kw.get('db', 0)}"
    return f"redis://:{kw.get('password') or ''}@{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


@pytest.mark.parametrize("crash_at", [1, 3])
def test_an_engine_killed_mid_pass_is_replaced_and_the_run_finishes_once(
    platform: Platform, tmp_path: Path, crash_at: int
) -> None:
    record = tmp_path / "passes.txt"
    platform.start_worker(concurrency=4)
    run = platform.workflows.start("squares", {"n": 40})
    # The first engine dies inside a pass, after enqueuing that pass's tasks and before committing
    # it. In pass 1 those are the first task's: it runs and reports before any row of it exists.
    first = _spawn("engine", _redis_url(platform), _db_url(platform), str(record), str(crash_at))
    assert first.wait(timeout=60) == 9
    mid_run = platform.workflows.get(run.id)
    assert not mid_run.done
    platform.start_engine()
    done = platform.wait(run.id)
    assert done.state == "succeeded"
    assert done.outputs == {"sum": sum(i * i for i in range(40)), "order": list(range(40))}
    tasks = platform.workflows.tasks(run.id)
    assert len(tasks) == 42 and all(t.state == "succeeded" for t in tasks)
    # every task message exists once and completed once
    for t in tasks:
        assert platform.rq.get(t.queue, t.message_id).state == dq.State.COMPLETED


@pytest.mark.parametrize(("crash_at", "reconciled"), [(1, False), (3, True)], ids=["first-pass", "third-pass"])
def test_an_engine_killed_between_its_commit_and_its_enqueue_loses_no_step_and_runs_none_twice(
    platform: Platform, tmp_path: Path, crash_at: int, reconciled: bool
) -> None:
    platform.start_worker(concurrency=4)
    run = platform.workflows.start("chain", {})
    # The engine dies in its n-th pass after committing it, before enqueuing the task it started:
    # the task's row says pending and no message of it exists.
    victim = _spawn("engine", _redis_url(platform), _db_url(platform), str(tmp_path / "p"), f"commit:{crash_at}")
    assert victim.wait(timeout=60) == 9
    rows = platform.workflows.tasks(run.id)
    assert rows, "the victim's pass committed nothing"
    started = rows[-1]
    assert (started.step, started.state) == (f"s{crash_at - 1}", "pending")
    with pytest.raises(dq.MessageNotFound):
        platform.rq.get(started.queue, started.message_id)
    if reconciled:
        # a reconciler that sees the row without its message asks for it again, never fails it
        Engine(platform.rq, platform.db, funcs.registry).reconcile()
        assert platform.workflows.get(run.id).state == "running"
    # the tick the victim held comes back (attempt 2) and its pass issues the task again
    platform.start_engine()
    done = platform.wait(run.id)
    assert done.state == "succeeded", done.error
    assert done.outputs == {"last": {"k": 5, "attempt": 1}}
    tasks = platform.workflows.tasks(run.id)
    assert [(t.step, t.state, t.attempts) for t in tasks] == [(f"s{k}", "succeeded", 1) for k in range(6)]
    for t in tasks:  # every step's message was enqueued once and leased once
        msg = platform.rq.get(t.queue, t.message_id)
        assert (msg.state, msg.attempts) == (dq.State.COMPLETED, 1)


def test_an_engine_killed_after_closing_a_run_before_its_cancels_leaves_no_task_to_run(
    platform: Platform, tmp_path: Path
) -> None:
    ensure_queues(platform.rq, funcs.registry)
    run = platform.workflows.start("chain", {})
    assert Engine(platform.rq, platform.db, funcs.registry).run_once() == 1  # s0 enqueued; no worker
    (task,) = platform.workflows.tasks(run.id)
    platform.workflows.cancel(run.id)
    # the victim's pass closes the run and commits, and dies before canceling s0's message
    victim = _spawn("engine", _redis_url(platform), _db_url(platform), str(tmp_path / "p"), "commit:1")
    assert victim.wait(timeout=60) == 9
    assert platform.workflows.get(run.id).state == "canceled"
    assert platform.rq.get(task.queue, task.message_id).state == dq.State.PENDING
    # the tick comes back, delivered again: the closed run's pass cancels its tasks' messages again
    platform.start_engine()
    platform.until(lambda: platform.rq.get(task.queue, task.message_id).state == dq.State.CANCELED)


def test_a_worker_killed_mid_task_leads_to_a_retry_with_identical_outputs(platform: Platform, tmp_path: Path) -> None:
    blob_dir, gate = tmp_path / "blobs", tmp_path / "gate"
    platform.start_engine()
    run = platform.workflows.start("copying", {"text": "same bytes", "gate": str(gate)})
    victim = _spawn("worker", _redis_url(platform), _db_url(platform), str(blob_dir), str(tmp_path / "s1"))
    try:
        platform.until(lambda: [t.state for t in platform.workflows.tasks(run.id)] == ["running"])
    finally:
        victim.kill()
        victim.wait()
    gate.touch()
    platform.start_worker(blobs=open_blobs(str(blob_dir)))
    done = platform.wait(run.id)
    assert done.state == "succeeded"
    assert done.steps["copy"].attempts == 2
    # the same content lands under the same content-addressed key as an undisturbed run would give
    reference = tmp_path / "ref.txt"
    reference.write_text("same bytes")
    expected = open_blobs(str(tmp_path / "other")).put_content(reference, suffix=".txt").key
    assert done.outputs == {"file": {BLOB: expected}}


def test_sigterm_hands_back_what_cannot_finish_within_the_grace_period(platform: Platform, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    ensure_queues(platform.rq, funcs.registry)
    mid = platform.rq.enqueue(funcs.QUEUE, _copy_task(str(gate)), max_attempts=3)
    worker = _spawn("worker", _redis_url(platform), _db_url(platform), str(tmp_path / "b"), str(tmp_path / "s"), "0.5")
    platform.until(lambda: platform.rq.get(funcs.QUEUE, mid).state == dq.State.RUNNING)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    msg = platform.rq.get(funcs.QUEUE, mid)
    assert msg.state == dq.State.PENDING
    assert "shut down" in (msg.last_error or "")
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def _copy_task(gate: str) -> bytes:
    from darkroom.runtime.task import TaskSpec

    return TaskSpec("gated_copy", {"text": "x", "gate": gate}).encode()


@pytest.mark.parametrize("crash_at", ["claimed", "mid-pass", "holding"])
def test_a_worker_killed_while_advancing_its_run_loses_nothing(
    platform: Platform, tmp_path: Path, crash_at: str
) -> None:
    ensure_queues(platform.rq, funcs.registry)
    run = platform.workflows.start("chain", {})
    # the first pass by hand (no task has reported yet), so the victim is the only advancer after it
    assert Engine(platform.rq, platform.db, funcs.registry).run_once() == 1
    victim = _spawn(
        "advancing-worker", _redis_url(platform), _db_url(platform), str(tmp_path / "s"), str(tmp_path / "p"), crash_at
    )
    assert victim.wait(timeout=60) == 9
    # it died holding the run's tick (and its task's lease, reported but not settled): the tick's
    # lease expires and an engine repeats the pass from the inbox; the task's lease expires later
    # and the task runs again, its repeated report changing nothing
    assert not platform.workflows.get(run.id).done
    platform.start_engine()
    platform.start_worker()
    done = platform.wait(run.id, timeout_s=60)
    assert done.state == "succeeded", done.error
    assert done.outputs == {"last": {"k": 5, "attempt": 1}}
    tasks = platform.workflows.tasks(run.id)
    assert [(t.step, t.state) for t in tasks] == [(f"s{k}", "succeeded") for k in range(6)]


@pytest.mark.parametrize("crash_at", ["after-commit", "holding-after-commit"])
def test_a_worker_killed_between_its_commit_and_its_enqueue_loses_no_step(
    platform: Platform, tmp_path: Path, crash_at: str
) -> None:
    ensure_queues(platform.rq, funcs.registry)
    run = platform.workflows.start("chain", {})
    assert Engine(platform.rq, platform.db, funcs.registry).run_once() == 1
    victim = _spawn(
        "advancing-worker", _redis_url(platform), _db_url(platform), str(tmp_path / "s"), str(tmp_path / "p"), crash_at
    )
    assert victim.wait(timeout=60) == 9
    # its pass (under a claimed tick, or under the tick its first pass kept) committed the next
    # step's row and died before enqueuing it
    rows = platform.workflows.tasks(run.id)
    assert rows and rows[-1].step != "s0", "the victim's pass committed nothing"
    started = rows[-1]
    assert started.state == "pending"
    with pytest.raises(dq.MessageNotFound):
        platform.rq.get(started.queue, started.message_id)
    platform.start_engine()
    platform.start_worker()
    done = platform.wait(run.id, timeout_s=60)
    assert done.state == "succeeded", done.error
    assert done.outputs == {"last": {"k": 5, "attempt": 1}}
    assert [(t.step, t.state) for t in platform.workflows.tasks(run.id)] == [(f"s{k}", "succeeded") for k in range(6)]
    # the step that pass started was issued again by the tick's next holder, and ran once
    assert platform.rq.get(started.queue, started.message_id).attempts == 1


def test_workers_and_engines_never_advance_one_workflow_at_once(platform: Platform, tmp_path: Path) -> None:
    record = tmp_path / "passes.txt"
    ensure_queues(platform.rq, funcs.registry)
    redis_url, db_url = _redis_url(platform), _db_url(platform)
    procs = [_spawn("engine", redis_url, db_url, str(record))]
    procs += [_spawn("advancing-worker", redis_url, db_url, str(tmp_path / f"s{i}"), str(record)) for i in range(2)]
    # Both workers serving before the runs start: else one that starts late (a loaded machine)
    # can find every run already advanced by the other, and the test would prove nothing.
    directory, pids = WorkerDirectory.of(platform.rq), {str(p.pid) for p in procs[1:]}
    platform.until(lambda: pids <= {w.name.rsplit(":", 1)[-1] for w in directory.live()}, timeout_s=60)
    runs = [
        platform.workflows.start(name, args) for _ in range(6) for name, args in [("squares", {"n": 15}), ("chain", {})]
    ]
    _all_succeed_then_stop(platform, runs, procs)
    history = _passes(record)
    advancers = {name for passes in history.values() for _, _, name in passes}
    assert {f"worker-{p.pid}" for p in procs[1:]} <= advancers
    _assert_no_overlap(history)


def test_two_engines_never_advance_one_workflow_at_once(platform: Platform, tmp_path: Path) -> None:
    record = tmp_path / "passes.txt"
    platform.start_worker(concurrency=4)
    engines = [_spawn("engine", _redis_url(platform), _db_url(platform), str(record)) for _ in range(2)]
    # Both engines serving before the runs start: else the first one up (a loaded machine) can
    # finish every run before the other has started, and the test would prove nothing.
    platform.until(lambda: all(Path(f"{record}.{e.pid}.ready").exists() for e in engines), timeout_s=60)
    runs = [platform.workflows.start("squares", {"n": 15}) for _ in range(12)]
    _all_succeed_then_stop(platform, runs, engines)
    history = _passes(record)
    assert {name for passes in history.values() for _, _, name in passes} == {f"engine-{e.pid}" for e in engines}
    _assert_no_overlap(history)
    assert os.path.exists(record)


_History = dict[str, list[tuple[float, float, str]]]  # workflow id -> (start, end, advancer) per pass


def _all_succeed_then_stop(platform: Platform, runs: list[RunRow], procs: list[subprocess.Popen[bytes]]) -> None:
    try:
        for run in runs:
            assert platform.wait(run.id, timeout_s=120).state == "succeeded"
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)


def _passes(record: Path) -> _History:
    """The passes the processes recorded (``workflow advancer start end`` per line), by workflow."""
    history: _History = defaultdict(list)
    for line in record.read_text().splitlines():
        wid, name, start, end = line.split()
        history[wid].append((float(start), float(end), name))
    return history


def _assert_no_overlap(history: _History) -> None:
    for wid, passes in history.items():
        passes.sort()
        for (_s1, e1, n1), (s2, _, n2) in itertools.pairwise(passes):
            assert e1 <= s2, f"{wid}: a pass of {n2} started before {n1}'s ended"


def test_a_run_whose_task_dies_on_its_last_attempt_fails_instead_of_hanging(platform: Platform, tmp_path: Path) -> None:
    engine = platform.start_engine()
    gate = tmp_path / "gate"
    run = platform.workflows.start("last-try", {"text": "t", "gate": str(gate)})
    victim = _spawn("worker", _redis_url(platform), _db_url(platform), str(tmp_path / "b"), str(tmp_path / "s1"))
    try:
        platform.until(lambda: [t.state for t in platform.workflows.tasks(run.id)] == ["running"])
    finally:
        victim.kill()
        victim.wait()
    platform.start_worker()  # touches the queue: the dead lease expires and the task errors
    (task,) = platform.workflows.tasks(run.id)
    platform.until(lambda: platform.rq.get(task.queue, task.message_id).state == dq.State.ERRORED)
    assert engine.reconcile() == 1
    done = platform.wait(run.id)
    assert done.state == "failed"
    assert "lease" in (done.steps["copy"].error or "")
