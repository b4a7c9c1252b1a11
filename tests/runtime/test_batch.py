"""Map items in batches (``Function.batch``): one task message runs several items, each item keeps
its own row, output and report; at the largest batch, with a broken item in the middle."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import MAX_BATCH, Function
from darkroom.runtime.task import TaskSpec, dumps
from tests.runtime import batch_funcs
from tests.runtime.conftest import Platform


@pytest.fixture
def bp(rq: dq.RedisQueue, sqlite_engine: sa.Engine, tmp_path: Path) -> Iterator[Platform]:
    p = Platform(rq, sqlite_engine, batch_funcs.registry, tmp_path / "scratch")
    yield p
    p.stop()


def _messages(p: Platform, run_id: str) -> list[str]:
    return sorted({t.message_id for t in p.workflows.tasks(run_id)}, key=lambda m: int(m.rsplit(":", 1)[1]))


@pytest.mark.parametrize(("name", "where"), [("batch.proc", "pid"), ("batch.thread", "thread")])
def test_a_map_runs_its_items_in_batches(bp: Platform, name: str, where: str) -> None:
    bp.start_engine()
    bp.start_worker(concurrency=2, processes=1)
    run = bp.workflows.start(name, {"items": list(range(10)), "offset": 7})
    done = bp.wait(run.id)
    assert done.state == "succeeded", done.error
    out = done.steps["each"].output
    assert [o["value"] for o in out] == [i * i + 7 for i in range(10)]
    assert [o["item"] for o in out] == list(range(10))  # each item sees its own index
    tasks = bp.workflows.tasks(run.id)
    assert [t.idx for t in tasks] == list(range(10)) and {t.state for t in tasks} == {"succeeded"}
    assert [t.output for t in tasks] == out
    # ten items, four to a task: three messages, named after their first items
    assert _messages(bp, run.id) == [f"{run.id}:each:{i}" for i in (0, 4, 8)]
    assert done.steps["each"].items_done == done.steps["each"].items_total == 10
    if where == "pid":
        assert os.getpid() not in {o["pid"] for o in out}  # in the pool's child, not the worker
    for mid, first in zip(_messages(bp, run.id), (0, 4, 8), strict=True):
        msg = bp.rq.get(batch_funcs.QUEUE, mid)
        spec = TaskSpec.decode(msg.payload)
        assert spec.batch == list(range(first, min(first + 4, 10))) and spec.args == {"offset": 7}
        assert [o["value"] for o in json.loads(msg.result or b"[]")] == [i * i + 7 for i in spec.batch]


def test_the_largest_batch_with_a_broken_item_in_the_middle(bp: Platform) -> None:
    bp.start_engine()
    bp.start_worker(concurrency=2, processes=1)
    items: list[object] = list(range(2 * MAX_BATCH + 1))
    good = bp.workflows.start("batch.widest", {"items": items})
    done = bp.wait(good.id, timeout_s=60)
    assert done.state == "succeeded", done.error
    assert [o["value"] for o in done.steps["each"].output] == items
    assert len(_messages(bp, good.id)) == 3  # MAX_BATCH, MAX_BATCH and 1
    broken = MAX_BATCH + MAX_BATCH // 2  # the middle of the second batch
    items[broken] = "x"
    bad = bp.workflows.start("batch.widest", {"items": items})
    failed = bp.wait(bad.id, timeout_s=60)
    assert failed.state == "failed"
    assert f"item {broken}: " in (failed.steps["each"].error or "")
    assert "'x' is not a number" in (failed.steps["each"].error or "")
    by_idx = {t.idx: t for t in bp.workflows.tasks(bad.id)}
    assert by_idx[broken].state == "failed"
    assert by_idx[0].state == "succeeded"  # the first batch was not touched by the second's failure


def test_a_batch_is_retried_whole_and_each_item_ends_once(bp: Platform, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    bp.start_engine()
    bp.start_worker(concurrency=2)
    run = bp.workflows.start("batch.flaky", {"items": list(range(8)), "marks": str(marks)})
    done = bp.wait(run.id)
    assert done.state == "succeeded", done.error
    assert [o["value"] for o in done.steps["each"].output] == list(range(8))
    # item 5 failed its first attempt: its batch (items 4-7) ran again, the other batch once
    ran = {p.name for p in marks.iterdir()}
    assert ran == {f"{i}-1" for i in range(6)} | {f"{i}-2" for i in range(4, 8)}
    by_idx = {t.idx: t for t in bp.workflows.tasks(run.id)}
    assert by_idx[5].attempts == 2 and by_idx[0].attempts == 1


def test_canceling_a_run_cancels_each_batch_once_and_stops_its_child(bp: Platform, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    bp.start_engine()
    bp.start_worker(concurrency=1, processes=1)
    args = {"items": list(range(6)), "gate": str(tmp_path / "never"), "pids": str(pids)}
    run = bp.workflows.start("batch.gated", args)
    bp.until((pids / "0").exists)
    bp.workflows.cancel(run.id)
    done = bp.wait(run.id)
    assert done.state == "canceled"
    for mid in _messages(bp, run.id):
        bp.until(lambda mid=mid: bp.rq.get(batch_funcs.QUEUE, mid).state in (dq.State.CANCELED, dq.State.ERRORED))
    assert not (pids / "1").exists()  # the running batch stopped at its first item


def test_reconcile_reports_each_item_of_a_batch_from_its_message(bp: Platform) -> None:
    """A batch completed in the queue whose reports were lost: the engine's reconcile reports
    every item with its own output, read from the batch's result list."""
    engine = bp.start_engine()
    run = bp.workflows.start("batch.thread", {"items": list(range(6)), "offset": 1})
    bp.until(lambda: len(bp.workflows.tasks(run.id)) == 6)
    leases = bp.rq.dequeue(batch_funcs.QUEUE, max_messages=10, lease_s=30)
    assert len(leases) == 2
    for lease in leases:
        spec = TaskSpec.decode(lease.message.payload)
        outs = [{"value": v * 100} for v in spec.batch or []]
        bp.rq.complete(lease, dumps(outs))
    assert engine.reconcile() == 6
    done = bp.wait(run.id)
    assert done.state == "succeeded", done.error
    assert [o["value"] for o in done.steps["each"].output] == [v * 100 for v in range(6)]


def test_batch_payloads_keep_single_calls_as_they_were() -> None:
    single = TaskSpec("f", {"a": 1}, "w", "s", 3, 10.0)
    assert json.loads(single.encode()) == {
        "v": 1, "fn": "f", "args": {"a": 1}, "workflow_id": "w", "step": "s", "idx": 3, "timeout_s": 10.0
    }  # fmt: skip
    assert TaskSpec.decode(single.encode()) == single and single.items() == [single]
    batch = TaskSpec("f", {"a": 1}, "w", "s", 4, 10.0, [7, 8], "x")
    assert json.loads(batch.encode())["v"] == 2
    assert TaskSpec.decode(batch.encode()) == batch and batch.count == 2
    assert [(i.idx, i.args) for i in batch.items()] == [(4, {"a": 1, "x": 7}), (5, {"a": 1, "x": 8})]
    for bad in (
        {"v": 1, "fn": "f", "args": {}, "batch": [1]},  # a batch under the old version
        {"v": 2, "fn": "f", "args": {}},  # the new version without one
        {"v": 2, "fn": "f", "args": {}, "batch": []},
        {"v": 2, "fn": "f", "args": {}, "batch": {"a": 1}},
    ):
        with pytest.raises(InvalidWorkflow, match="malformed task payload"):
            TaskSpec.decode(json.dumps(bad).encode())


@pytest.mark.parametrize("batch", [0, -1, MAX_BATCH + 1, 2.5, "4", True])
def test_batch_sizes_outside_the_limits_are_refused(batch: object) -> None:
    with pytest.raises(InvalidWorkflow, match=f"batch {batch!r} must be from 1 to {MAX_BATCH}"):
        Function("f", lambda ctx: None, batch=batch)  # type: ignore[arg-type]


def test_a_batch_of_process_isolated_calls_is_refused() -> None:
    with pytest.raises(InvalidWorkflow, match="batch=2 is for small items"):
        Function("f", lambda ctx: None, batch=2, isolation="process")
