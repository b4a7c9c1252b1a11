"""The workflow store's contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.errors import WorkflowNotFound
from darkroom.runtime.workflow.store import RunRow, StepRow, TaskRow, WorkflowStore
from tests.runtime import funcs
from tests.runtime.conftest import Platform


def _run(wid: str = "wf_1", created: float = 100.0) -> RunRow:
    return RunRow(
        id=wid,
        name="squares",
        state="pending",
        inputs={"n": 3, "title": "é ✓", "nested": {"a": [1, None, True]}},
        priority="standard",
        deadline=4600.5,
        created_at=created,
        updated_at=created,
        steps={"split": StepRow("split", "task"), "square": StepRow("square", "map")},
    )


def test_create_load_and_save_round_trip(db_engine: sa.Engine) -> None:
    store = WorkflowStore(db_engine)
    with db_engine.begin() as conn:
        assert store.create(conn, _run())
        assert not store.create(conn, _run()), "a second create with the same id writes nothing"
    run = store.get("wf_1")
    assert run.inputs == {"n": 3, "title": "é ✓", "nested": {"a": [1, None, True]}}
    assert set(run.steps) == {"split", "square"} and run.steps["square"].kind == "map"
    run.state, run.progress = "running", 0.5
    run.steps["split"].state, run.steps["split"].output = "succeeded", {"items": [0, 1, 2]}
    with db_engine.begin() as conn:
        store.save(conn, run, ["split"])
    again = store.get("wf_1")
    assert (again.state, again.progress, again.version) == ("running", 0.5, 1)
    assert again.steps["split"].output == {"items": [0, 1, 2]}
    assert again.steps["square"].state == "waiting"
    with pytest.raises(WorkflowNotFound, match="wf_nope"):
        store.get("wf_nope")


def test_task_rows_bulk_insert_update_and_aggregate(db_engine: sa.Engine) -> None:
    store = WorkflowStore(db_engine)
    with db_engine.begin() as conn:
        store.create(conn, _run())
        store.insert_tasks(conn, [TaskRow("wf_1", "square", i, f"wf_1:square:{i}", "q") for i in range(5)])
        store.update_tasks(
            conn,
            "wf_1",
            "square",
            [
                {"idx": 0, "state": "succeeded", "output": {"sq": 0}, "progress": 1.0},
                {"idx": 1, "state": "running", "progress": 0.25},
                {"idx": 2, "state": "running", "progress": 0.5},
                {"idx": 3, "state": "succeeded", "output": {"sq": 9}, "progress": 1.0},
            ],
        )
    with db_engine.connect() as conn:
        states = store.task_states(conn, "wf_1", "square")
        assert {i: s for i, (s, _) in states.items()} == {
            0: "succeeded",
            1: "running",
            2: "running",
            3: "succeeded",
            4: "pending",
        }
        assert store.progress_sum(conn, "wf_1", "square") == pytest.approx(0.75)
        assert store.outputs(conn, "wf_1", "square") == [{"sq": 0}, None, None, {"sq": 9}, None]
        assert sorted(t.idx for t in store.open_tasks(conn, "wf_1")) == [1, 2, 4]


def test_runs_are_listed_newest_first_with_filters(db_engine: sa.Engine) -> None:
    store = WorkflowStore(db_engine)
    with db_engine.begin() as conn:
        for i in range(5):
            run = _run(f"wf_{i}", created=100.0 + i)
            run.state = "succeeded" if i % 2 else "running"
            store.create(conn, run)
    assert [r.id for r in store.runs()] == ["wf_4", "wf_3", "wf_2", "wf_1", "wf_0"]
    assert [r.id for r in store.runs(state="succeeded")] == ["wf_3", "wf_1"]
    assert [r.id for r in store.runs(limit=2, before=103.0)] == ["wf_2", "wf_1"]


def test_runs_page_by_time_and_id_through_ties_and_states(db_engine: sa.Engine) -> None:
    """Runs created at the same moment are neither skipped nor repeated from one page to the next."""
    store = WorkflowStore(db_engine)
    with db_engine.begin() as conn:
        for i, state in enumerate(["running", "failed", "succeeded", "failed", "running"]):
            run = _run(f"wf_{i}", created=100.0 + i // 2)  # pairs share a creation time
            run.state = state
            store.create(conn, run)
    wanted = {"running", "failed"}
    seen: list[str] = []
    first = store.runs(states=wanted, limit=2)
    seen += [r.id for r in first]
    while True:
        last = store.runs(states=wanted, limit=2, before=first[-1].created_at, before_id=first[-1].id)
        if not last:
            break
        seen += [r.id for r in last]
        first = last
    assert seen == ["wf_4", "wf_3", "wf_1", "wf_0"]


def test_map_reduce_end_to_end(rq: dq.RedisQueue, db_engine: sa.Engine, tmp_path: Path) -> None:
    platform = Platform(rq, db_engine, funcs.registry, tmp_path / "scratch")
    try:
        platform.start_engine()
        platform.start_worker(concurrency=4)
        done = platform.wait(platform.workflows.start("squares", {"n": 30}).id)
        assert done.state == "succeeded"
        assert done.outputs == {"sum": sum(i * i for i in range(30)), "order": list(range(30))}
    finally:
        platform.stop()


def test_sqlite_statements_on_the_cursor_write_and_read_what_sqlalchemy_does(
    sqlite_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a pass's statements skip SQLAlchemy; rows written either way read the same either way."""
    from darkroom.runtime.workflow import _sqlite

    store = WorkflowStore(sqlite_engine)

    def write(wid: str) -> None:
        with sqlite_engine.begin() as conn:
            store.create(conn, _run(wid))
            run = store.load(conn, wid)
            run.state, run.outputs, run.started_at = "running", {"x": [1, None, "é"]}, 1.5
            run.steps["split"].state, run.steps["split"].output = "succeeded", {"items": [0, 1]}
            run.steps["square"].items_total, run.steps["square"].output = 2, None
            store.save(conn, run, ["split", "square"])
            store.insert_tasks(conn, [TaskRow(wid, "square", i, f"{wid}:square:{i}", "q") for i in range(7)])
            store.update_tasks(conn, wid, "square", [{"idx": 1, "state": "succeeded", "output": {"sq": 1}}])
            store.update_tasks(conn, wid, "square", [{"idx": 2, "state": "failed", "output": None, "error": "e"}])
            # scalars too: SQLite stores a JSON number as a number (the column's NUMERIC affinity)
            scalars = [{"idx": 3 + i, "state": "succeeded", "output": v} for i, v in enumerate([7, 1.5, "12", True])]
            store.update_tasks(conn, wid, "square", scalars)

    def read(wid: str) -> tuple[object, ...]:
        with sqlite_engine.begin() as conn:
            run = store.load(conn, wid)
            return (
                {k: v for k, v in vars(run).items() if k not in ("id", "steps", "updated_at")},
                {n: vars(s) for n, s in run.steps.items()},
                store.task_states(conn, wid, "square", [0, 1, 2, 7]),
                store.outputs(conn, wid, "square"),
            )

    write("wf_fast")
    fast_fast = read("wf_fast")
    with monkeypatch.context() as m:
        m.setattr(_sqlite, "cursor", lambda conn: None)  # what PostgreSQL does: SQLAlchemy throughout
        write("wf_slow")
        slow_slow, slow_fast = read("wf_slow"), read("wf_fast")
    fast_slow = read("wf_slow")
    assert fast_fast == slow_slow == slow_fast == fast_slow
    assert fast_fast[2] == {0: ("pending", 0), 1: ("succeeded", 0), 2: ("failed", 0)}
    assert fast_fast[3] == [None, {"sq": 1}, None, 7, 1.5, "12", True]
    # and the raw column text is the same: JSON encoded alike
    with sqlite_engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, inputs, outputs FROM workflows ORDER BY id").all()
        assert rows[0][1:] == rows[1][1:]
        steps = conn.exec_driver_sql("SELECT workflow_id, name, output FROM steps ORDER BY name, workflow_id").all()
        assert [s[2] for s in steps[:2]] == [steps[0][2]] * 2 and [s[2] for s in steps[2:]] == [steps[2][2]] * 2
