"""Workers that advance the runs of the tasks they finish (``Worker(engine=...)``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.workflow import Engine
from darkroom.runtime.workflow.engine import PassRecord
from darkroom.runtime.workflow.inbox import EVENTS_QUEUE, Report
from darkroom.runtime.workflow.store import RunRow
from tests.runtime import funcs
from tests.runtime.conftest import Platform


def test_a_worker_advances_the_runs_of_its_tasks_without_an_engine(platform: Platform) -> None:
    passes: list[PassRecord] = []
    run = platform.workflows.start("chain", {})
    # Only the first pass needs an engine: no task has reported yet. The worker does every later one.
    assert Engine(platform.rq, platform.db, funcs.registry).run_once() == 1
    advancer = Engine(platform.rq, platform.db, funcs.registry, name="worker", on_pass=passes.append)
    platform.start_worker(engine=advancer)
    done = platform.wait(run.id)
    assert done.state == "succeeded", done.error
    assert done.outputs == {"last": {"k": 5, "attempt": 1}}
    assert [t.state for t in platform.workflows.tasks(run.id)] == ["succeeded"] * 6
    # one pass per task, each the worker's (its record follows the commit the run is seen by)
    platform.until(lambda: len(passes) == 6)
    assert {p[0] for p in passes} == {run.id}


def test_a_worker_that_took_the_next_task_keeps_the_tick_for_its_report(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    import darkroom.runtime.advancer as advancer_module

    monkeypatch.setattr(advancer_module, "HOLD_S", 3600.0)  # never given back for lack of a report
    run = platform.workflows.start("chain", {})
    assert Engine(platform.rq, platform.db, funcs.registry).run_once() == 1
    passes: list[PassRecord] = []
    advancer = Engine(platform.rq, platform.db, funcs.registry, name="worker", on_pass=passes.append)
    loads: list[str] = []
    load = advancer.store.load

    def counted(conn: sa.Connection, wid: str, *, with_steps: bool = True) -> RunRow:
        loads.append(wid)
        return load(conn, wid, with_steps=with_steps)

    monkeypatch.setattr(advancer.store, "load", counted)
    platform.start_worker(engine=advancer)
    done = platform.wait(run.id)
    assert done.state == "succeeded", done.error
    platform.until(lambda: len(passes) == 6)
    # only the first pass (under a claimed tick) loads the run; the next ones, under the tick the
    # worker kept, take its rows as the previous pass left them
    assert loads == [run.id]
    # two ticks in all: the start's and the first report's. Each pass took the next task, so the
    # worker kept the tick, and the next report was written and passed under it without a tick.
    platform.until(lambda: platform.rq.count(EVENTS_QUEUE, dq.State.RUNNING) == 0)
    assert platform.rq.count(EVENTS_QUEUE) == platform.rq.count(EVENTS_QUEUE, dq.State.COMPLETED) == 2
    assert platform.rq.count(funcs.QUEUE, dq.State.COMPLETED) == 6


def test_a_report_from_elsewhere_makes_a_worker_give_back_the_tick_it_kept(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import darkroom.runtime.advancer as advancer_module

    monkeypatch.setattr(advancer_module, "HOLD_S", 3600.0)  # kept for as long as the chain goes on
    gate = tmp_path / "gate"
    run = platform.workflows.start("gated-chain", {"gate": str(gate)})
    assert Engine(platform.rq, platform.db, funcs.registry).run_once() == 1
    platform.start_engine()
    platform.start_worker(engine=Engine(platform.rq, platform.db, funcs.registry, name="worker"))
    # s1 waits at the gate in the worker, which keeps the run's tick for s1's report
    platform.until(lambda: platform.rq.count(funcs.QUEUE, dq.State.RUNNING) == 1)
    platform.workflows.cancel(run.id)
    gate.touch()
    # s1's pass is made under the kept tick, from memory; the inbox drained with it holds the
    # cancel, so the worker gives the tick back rather than keep passing the chain past it
    done = platform.wait(run.id)
    assert done.state == "canceled"
    assert "succeeded" not in {t.state for t in platform.workflows.tasks(run.id, "s3")}


def test_a_batch_mixing_a_kept_tick_with_other_runs_keeps_it_and_settles_every_task(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import darkroom.runtime.advancer as advancer_module

    monkeypatch.setattr(advancer_module, "HOLD_S", 3600.0)  # kept for as long as the chain goes on
    batches: list[tuple[int, int]] = []  # (runs of kept ticks, runs) of each batch the worker advanced
    advance = advancer_module.Advancer.advance

    def recorded(self: advancer_module.Advancer, reports: list[Report], settles: list[list[dq.Settlement]]) -> bool:
        runs = {r.workflow_id for r in reports}
        batches.append((len(runs & self.held.keys()), len(runs)))
        return advance(self, reports, settles)

    monkeypatch.setattr(advancer_module.Advancer, "advance", recorded)
    gate = tmp_path / "gate"
    gated = platform.workflows.start("gated-chain", {"gate": str(gate)})
    platform.start_engine()
    worker = platform.start_worker(engine=Engine(platform.rq, platform.db, funcs.registry, name="w"), concurrency=4)
    # s1 waits at the gate in the worker, which keeps the run's tick for s1's report
    platform.until(lambda: platform.rq.count(funcs.QUEUE, dq.State.COMPLETED) == 1)
    platform.until(lambda: platform.rq.count(funcs.QUEUE, dq.State.RUNNING) == 1)
    settler = worker._settler
    with settler.lock:  # finished tasks wait for the settler meanwhile: they settle in one batch
        other = platform.workflows.start("chain", {})  # its first report comes under no kept tick
        platform.until(lambda: settler.done.qsize() == 1)
        gate.touch()
        platform.until(lambda: settler.done.qsize() == 2)
    for run in (gated, other):
        done = platform.wait(run.id, timeout_s=60)
        assert done.state == "succeeded", done.error
    assert (1, 2) in batches  # s1's report under the kept tick with the other chain's s0
    # every task settled (the kept run's after its pass, the other's after its report), no tick pending
    platform.until(lambda: platform.rq.count(funcs.QUEUE, dq.State.COMPLETED) == 4 + 6)
    assert platform.rq.count(EVENTS_QUEUE, dq.State.PENDING) == 0


def test_a_map_finishes_when_workers_and_an_engine_advance_it_together(platform: Platform) -> None:
    passes: list[PassRecord] = []
    platform.start_engine(name="engine", on_pass=passes.append)
    for name in ("w1", "w2"):
        advancer = Engine(platform.rq, platform.db, funcs.registry, name=name, on_pass=passes.append)
        platform.start_worker(engine=advancer, concurrency=4)
    runs = [platform.workflows.start("squares", {"n": 30}) for _ in range(4)]
    runs += [platform.workflows.start("chain", {}) for _ in range(4)]
    for run in runs:
        done = platform.wait(run.id, timeout_s=60)
        assert done.state == "succeeded", done.error
    assert {p[1] for p in passes} >= {"w1", "w2"}
    _assert_no_overlap(passes)
    # every tick is taken and completed in the end: none is left pending or held
    platform.until(
        lambda: (
            platform.rq.count(EVENTS_QUEUE, dq.State.PENDING) + platform.rq.count(EVENTS_QUEUE, dq.State.RUNNING) == 0
        )
    )


def test_a_worker_whose_events_queue_lacks_the_index_leaves_advancing_to_engines(
    platform: Platform, tmp_path: Path
) -> None:
    # an events queue made by an older version, without indexed_keys=["workflow"]
    platform.rq.create_queue(EVENTS_QUEUE, lease_s=5.0, max_attempts=100, exclusivity_key="workflow")
    passes: list[PassRecord] = []
    platform.start_engine(name="engine", on_pass=passes.append)
    advancer = Engine(platform.rq, platform.db, funcs.registry, name="worker", on_pass=passes.append)
    platform.start_worker(engine=advancer)
    done = platform.wait(platform.workflows.start("chain", {}).id)
    assert done.state == "succeeded"
    assert {p[1] for p in passes} == {"engine"}


def _assert_no_overlap(passes: list[PassRecord]) -> None:
    by_run: dict[str, list[PassRecord]] = {}
    for p in passes:
        by_run.setdefault(p[0], []).append(p)
    for wid, runs in by_run.items():
        runs.sort(key=lambda p: p[2])
        for a, b in itertools.pairwise(runs):
            assert a[3] <= b[2], f"{wid}: a pass of {b[1]} started before {a[1]}'s ended"


@pytest.mark.parametrize("park_max", [1, 32])
def test_a_worker_settles_finished_map_items_together_and_the_last_at_once(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, park_max: int
) -> None:
    import darkroom.runtime.parking as parking_module

    # parked until a sibling settles them (never for lack of time): a run's last task here must
    # settle at once with everything parked, or the map would never finish
    monkeypatch.setattr(parking_module, "PARK_S", 3600.0)
    monkeypatch.setattr(parking_module, "PARK_MAX", park_max)
    run = platform.workflows.start("squares", {"n": 40})
    assert Engine(platform.rq, platform.db, funcs.registry).run_once() == 1
    passes: list[PassRecord] = []
    advancer = Engine(platform.rq, platform.db, funcs.registry, name="worker", on_pass=passes.append)
    platform.start_worker(engine=advancer, concurrency=8)
    done = platform.wait(run.id)
    assert done.state == "succeeded", done.error
    assert done.outputs["sum"] == sum(i * i for i in range(40))
    platform.until(lambda: platform.rq.count(funcs.QUEUE, dq.State.COMPLETED) == 42)
    # split, 40 squares and the total: fewer passes than tasks, as items settle together
    assert len(passes) < 42
    _assert_no_overlap(passes)
