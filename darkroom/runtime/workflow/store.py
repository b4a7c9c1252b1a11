"""Durable workflow state in the metadata database (SQLite or PostgreSQL, same statements).

The engine loads a run (workflow row + step rows), changes it in memory, and writes it back in the
transaction of one pass; task rows are touched with bulk statements because a map can have
thousands of them. Every write is guarded by state so a pass repeated after a crash changes
nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa

from darkroom.runtime.errors import WorkflowNotFound
from darkroom.runtime.workflow import _sqlite
from darkroom.storage.db import read_only
from darkroom.storage.schema import steps as steps_t
from darkroom.storage.schema import tasks as tasks_t
from darkroom.storage.schema import workflows as workflows_t

__all__ = ["RunRow", "StepRow", "TaskRow", "WorkflowStore", "TERMINAL"]

TERMINAL = frozenset({"succeeded", "failed", "canceled", "skipped"})


@dataclass
class StepRow:
    name: str
    kind: str
    state: str = "waiting"
    items_total: int | None = None
    items_done: int = 0
    attempts: int = 0
    progress: float = 0.0
    message: str | None = None
    output: Any = None
    error: str | None = None
    worker: str | None = None
    started_at: float | None = None
    ended_at: float | None = None


@dataclass
class RunRow:
    id: str
    name: str
    state: str
    inputs: dict[str, Any]
    priority: str
    deadline: float
    created_at: float
    updated_at: float
    outputs: Any = None
    error: str | None = None
    progress: float = 0.0
    version: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    steps: dict[str, StepRow] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


@dataclass
class TaskRow:
    workflow_id: str
    step: str
    idx: int
    message_id: str
    queue: str
    state: str = "pending"
    attempts: int = 0
    progress: float = 0.0
    message: str | None = None
    output: Any = None
    error: str | None = None
    worker: str | None = None
    started_at: float | None = None
    ended_at: float | None = None


_RUN_COLS = [f.name for f in fields(RunRow) if f.name != "steps"]
_STEP_COLS = [f.name for f in fields(StepRow)]
_TASK_COLS = [f.name for f in fields(TaskRow)]
# a run's inputs are written once, when it starts: a pass must not encode them again (a map's
# inputs can be thousands of items, and a busy run has hundreds of passes)
_RUN_MUTABLE = [c for c in _RUN_COLS if c not in ("id", "name", "created_at", "inputs")]
_STEP_MUTABLE = [c for c in _STEP_COLS if c != "name"]
# the same statements as plain SQLite (see _sqlite.py)
_SQ_LOAD_RUN = _sqlite.select("workflows", _RUN_COLS, ["id"])
_SQ_LOAD_STEPS = _sqlite.select("steps", _STEP_COLS, ["workflow_id"])
_SQ_SAVE_RUN = _sqlite.update("workflows", _RUN_MUTABLE, ["id"])
_SQ_SAVE_STEP = _sqlite.update("steps", _STEP_MUTABLE, ["workflow_id", "name"])
_SQ_INSERT_TASK = f"INSERT INTO tasks ({', '.join(_TASK_COLS)}) VALUES ({', '.join('?' * len(_TASK_COLS))})"
_SQ_STATES = _sqlite.select("tasks", ["idx", "state", "attempts"], ["workflow_id", "step"])
_SQ_OUTPUTS = _sqlite.select("tasks", ["output"], ["workflow_id", "step"], order="idx")


def _b(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name)


class WorkflowStore:
    """Statements are built once here: an engine pass runs about seven of them, and building a
    SQLAlchemy statement costs more than SQLite takes to execute it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.reader = read_only(engine)  # SQLite: readers do not queue behind the engine's writes
        w, st, t = workflows_t.c, steps_t.c, tasks_t.c
        self._run_exists = sa.select(w.id).where(w.id == _b("w"))
        self._load_run = sa.select(workflows_t).where(w.id == _b("w"))
        self._load_steps = sa.select(steps_t).where(st.workflow_id == _b("w"))
        mutable = _RUN_MUTABLE
        self._save_run = workflows_t.update().where(w.id == _b("w_id")).values({c: _b(f"v_{c}") for c in mutable})
        self._run_mutable = mutable
        self._save_step = (
            steps_t.update()
            .where(st.workflow_id == _b("w_id"), st.name == _b("s_name"))
            .values({c: _b(f"v_{c}") for c in _STEP_COLS if c != "name"})
        )
        of_step = (t.workflow_id == _b("w"), t.step == _b("s"))
        self._states_all = sa.select(t.idx, t.state, t.attempts).where(*of_step)
        self._states_some = self._states_all.where(t.idx.in_(sa.bindparam("idxs", expanding=True)))
        self._outputs = sa.select(t.output).where(*of_step).order_by(t.idx)
        self._progress = sa.select(sa.func.coalesce(sa.func.sum(t.progress), 0.0)).where(*of_step, t.state == "running")
        self._open = sa.select(tasks_t).where(t.workflow_id == _b("w"), t.state.in_(["pending", "running"]))
        self._task_updates: dict[tuple[str, ...], sa.Update] = {}
        self._open_of_live = (
            sa.select(tasks_t, w.deadline)
            .join(workflows_t, w.id == t.workflow_id)
            .where(w.state == "running", t.state.in_(["pending", "running"]))
            .order_by(t.workflow_id, t.step, t.idx)
            .limit(_b("limit"))
        )
        self._stale_pending = sa.select(w.id, w.deadline).where(w.state == "pending", w.created_at < _b("before"))

    # -- runs ------------------------------------------------------------------------------------
    def create(self, conn: sa.Connection, run: RunRow) -> bool:
        """Insert a new run and its steps; False (and nothing written) when the id exists."""
        if conn.execute(self._run_exists, {"w": run.id}).first():
            return False
        conn.execute(workflows_t.insert(), {c: getattr(run, c) for c in _RUN_COLS})
        if run.steps:
            conn.execute(
                steps_t.insert(),
                [{"workflow_id": run.id, **{c: getattr(s, c) for c in _STEP_COLS}} for s in run.steps.values()],
            )
        return True

    def load(self, conn: sa.Connection, workflow_id: str, *, with_steps: bool = True) -> RunRow:
        cur = _sqlite.cursor(conn)
        if cur is not None:
            found = cur.execute(_SQ_LOAD_RUN, (workflow_id,)).fetchone()
            if found is None:
                raise WorkflowNotFound(f"no workflow run {workflow_id!r}")
            run = RunRow(**_sqlite.decode(found, _RUN_COLS, _sqlite.RUN_JSON))
            if with_steps:
                for srow in cur.execute(_SQ_LOAD_STEPS, (workflow_id,)):
                    step = StepRow(**_sqlite.decode(srow, _STEP_COLS, _sqlite.STEP_JSON))
                    run.steps[step.name] = step
            return run
        row = conn.execute(self._load_run, {"w": workflow_id}).mappings().first()
        if row is None:
            raise WorkflowNotFound(f"no workflow run {workflow_id!r}")
        run = RunRow(**{c: row[c] for c in _RUN_COLS})
        if with_steps:
            for s in conn.execute(self._load_steps, {"w": workflow_id}).mappings():
                run.steps[s["name"]] = StepRow(**{c: s[c] for c in _STEP_COLS})
        return run

    def get(self, workflow_id: str) -> RunRow:
        with self.reader.connect() as conn:
            return self.load(conn, workflow_id)

    def save(self, conn: sa.Connection, run: RunRow, changed_steps: Iterable[str]) -> None:
        run.version += 1
        run.updated_at = time.time()
        cur = _sqlite.cursor(conn)
        if cur is not None:
            cur.execute(_SQ_SAVE_RUN, (*_sqlite.params(vars(run), _RUN_MUTABLE, _sqlite.RUN_JSON), run.id))
            cur.executemany(
                _SQ_SAVE_STEP,
                [
                    (*_sqlite.params(vars(run.steps[n]), _STEP_MUTABLE, _sqlite.STEP_JSON), run.id, n)
                    for n in sorted(set(changed_steps))
                ],
            )
            return
        conn.execute(self._save_run, {"w_id": run.id, **{f"v_{c}": getattr(run, c) for c in self._run_mutable}})
        rows = [run.steps[n] for n in sorted(set(changed_steps))]
        if rows:
            params = [
                {"w_id": run.id, "s_name": s.name, **{f"v_{c}": getattr(s, c) for c in _STEP_COLS if c != "name"}}
                for s in rows
            ]
            conn.execute(self._save_step, params)

    def runs(
        self,
        *,
        state: str | None = None,
        name: str | None = None,
        limit: int = 50,
        before: float | None = None,
        states: Collection[str] = (),
        before_id: str | None = None,
    ) -> list[RunRow]:
        """The newest runs (``state``, or any of ``states``; of workflow ``name``) created before
        ``before``, or with ``before_id`` too, after the run (``before``, ``before_id``) in this
        order (newest first, then by id): a page that continues where the last one stopped even
        when runs share a creation time."""
        w = workflows_t.c
        q = sa.select(workflows_t).order_by(w.created_at.desc(), w.id.desc()).limit(limit)
        if state:
            q = q.where(w.state == state)
        if states:
            q = q.where(w.state.in_(sorted(states)))
        if name:
            q = q.where(w.name == name)
        if before is not None and before_id is not None:
            q = q.where(sa.or_(w.created_at < before, sa.and_(w.created_at == before, w.id < before_id)))
        elif before is not None:
            q = q.where(w.created_at < before)
        with self.reader.connect() as conn:
            return [RunRow(**{c: r[c] for c in _RUN_COLS}) for r in conn.execute(q).mappings()]

    # -- tasks -----------------------------------------------------------------------------------
    def insert_tasks(self, conn: sa.Connection, rows: Sequence[TaskRow]) -> None:
        cur = _sqlite.cursor(conn) if rows else None
        if cur is not None:
            cur.executemany(_SQ_INSERT_TASK, [_sqlite.params(vars(r), _TASK_COLS, _sqlite.TASK_JSON) for r in rows])
        elif rows:
            conn.execute(tasks_t.insert(), [vars(r) for r in rows])

    def tasks(self, conn: sa.Connection, workflow_id: str, step: str | None = None) -> list[TaskRow]:
        q = sa.select(tasks_t).where(tasks_t.c.workflow_id == workflow_id)
        if step is not None:
            q = q.where(tasks_t.c.step == step)
        return [TaskRow(**r) for r in conn.execute(q.order_by(tasks_t.c.step, tasks_t.c.idx)).mappings()]

    def task_states(
        self, conn: sa.Connection, workflow_id: str, step: str, idxs: Iterable[int] | None = None
    ) -> dict[int, tuple[str, int]]:
        """``idx -> (state, attempts)`` of a step's tasks (only ``idxs``, when given)."""
        key = {"w": workflow_id, "s": step}
        if idxs is None:
            return {r.idx: (r.state, r.attempts) for r in conn.execute(self._states_all, key)}
        wanted = sorted(set(idxs))
        out: dict[int, tuple[str, int]] = {}
        cur = _sqlite.cursor(conn)
        if cur is not None:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                sql = _SQ_STATES + f" AND idx IN ({', '.join('?' * len(chunk))})"
                out.update(
                    {idx: (state, attempts) for idx, state, attempts in cur.execute(sql, (workflow_id, step, *chunk))}
                )
            return out
        for i in range(0, len(wanted), 500):
            rows = conn.execute(self._states_some, {**key, "idxs": wanted[i : i + 500]})
            out.update({r.idx: (r.state, r.attempts) for r in rows})
        return out

    def outputs(self, conn: sa.Connection, workflow_id: str, step: str) -> list[Any]:
        cur = _sqlite.cursor(conn)
        if cur is not None:
            rows = cur.execute(_SQ_OUTPUTS, (workflow_id, step))
            return [_sqlite.from_json(out) for (out,) in rows]
        return [r.output for r in conn.execute(self._outputs, {"w": workflow_id, "s": step})]

    def update_tasks(
        self, conn: sa.Connection, workflow_id: str, step: str, changes: Sequence[Mapping[str, Any]]
    ) -> None:
        """Apply per-task column changes (each mapping has ``idx`` plus the columns to set)."""
        by_cols: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for ch in changes:
            by_cols.setdefault(tuple(sorted(k for k in ch if k != "idx")), []).append(ch)
        cur = _sqlite.cursor(conn) if by_cols else None
        if cur is not None:
            for cols, group in by_cols.items():
                sql = _sqlite.update("tasks", cols, ["workflow_id", "step", "idx"])
                cur.executemany(
                    sql, [(*_sqlite.params(ch, cols, _sqlite.TASK_JSON), workflow_id, step, ch["idx"]) for ch in group]
                )
            return
        for cols, group in by_cols.items():
            stmt = self._task_updates.get(cols)
            if stmt is None:
                t = tasks_t.c
                stmt = (
                    tasks_t.update()
                    .where(t.workflow_id == _b("w_id"), t.step == _b("s_name"), t.idx == _b("t_idx"))
                    .values({c: _b(f"v_{c}") for c in cols})
                )
                self._task_updates[cols] = stmt
            conn.execute(
                stmt,
                [
                    {"w_id": workflow_id, "s_name": step, "t_idx": ch["idx"], **{f"v_{c}": ch[c] for c in cols}}
                    for ch in group
                ],
            )

    def progress_sum(self, conn: sa.Connection, workflow_id: str, step: str) -> float:
        return float(conn.execute(self._progress, {"w": workflow_id, "s": step}).scalar_one())

    def open_tasks(self, conn: sa.Connection, workflow_id: str) -> list[TaskRow]:
        return [TaskRow(**r) for r in conn.execute(self._open, {"w": workflow_id}).mappings()]

    def open_tasks_of_live_runs(self, limit: int = 1000) -> list[tuple[TaskRow, float]]:
        """Unfinished tasks of running runs, with their run's deadline (for the reconciler)."""
        with self.reader.connect() as conn:
            rows = conn.execute(self._open_of_live, {"limit": limit}).mappings()
            return [(TaskRow(**{k: v for k, v in r.items() if k != "deadline"}), r["deadline"]) for r in rows]

    def stale_pending_runs(self, before: float) -> list[tuple[str, float]]:
        """Runs still pending that were created before ``before``: their first tick may be lost."""
        with self.reader.connect() as conn:
            return [(r.id, r.deadline) for r in conn.execute(self._stale_pending, {"before": before})]
