"""Durable workflow state in the metadata database (SQLite or PostgreSQL, same statements).

The engine loads a run (workflow row + step rows), changes it in memory, and writes it back in the
transaction of one pass; task rows are touched with bulk statements because a map can have
thousands of them. Every write is guarded by state so a pass repeated after a crash changes
nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa

from darkroom.runtime.errors import WorkflowNotFound
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


class WorkflowStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.reader = read_only(engine)  # SQLite: readers do not queue behind the engine's writes

    # -- runs ------------------------------------------------------------------------------------
    def create(self, conn: sa.Connection, run: RunRow) -> bool:
        """Insert a new run and its steps; False (and nothing written) when the id exists."""
        if conn.execute(sa.select(workflows_t.c.id).where(workflows_t.c.id == run.id)).first():
            return False
        conn.execute(workflows_t.insert().values({c: getattr(run, c) for c in _RUN_COLS}))
        if run.steps:
            conn.execute(
                steps_t.insert(),
                [{"workflow_id": run.id, **{c: getattr(s, c) for c in _STEP_COLS}} for s in run.steps.values()],
            )
        return True

    def load(self, conn: sa.Connection, workflow_id: str, *, with_steps: bool = True) -> RunRow:
        row = conn.execute(sa.select(workflows_t).where(workflows_t.c.id == workflow_id)).mappings().first()
        if row is None:
            raise WorkflowNotFound(f"no workflow run {workflow_id!r}")
        run = RunRow(**{c: row[c] for c in _RUN_COLS})
        if with_steps:
            for s in conn.execute(sa.select(steps_t).where(steps_t.c.workflow_id == workflow_id)).mappings():
                run.steps[s["name"]] = StepRow(**{c: s[c] for c in _STEP_COLS})
        return run

    def get(self, workflow_id: str) -> RunRow:
        with self.reader.connect() as conn:
            return self.load(conn, workflow_id)

    def save(self, conn: sa.Connection, run: RunRow, changed_steps: Iterable[str]) -> None:
        run.version += 1
        run.updated_at = time.time()
        conn.execute(
            workflows_t.update()
            .where(workflows_t.c.id == run.id)
            .values({c: getattr(run, c) for c in _RUN_COLS if c not in ("id", "name", "created_at")})
        )
        rows = [run.steps[n] for n in sorted(set(changed_steps))]
        if rows:
            stmt = (
                steps_t.update()
                .where(steps_t.c.workflow_id == sa.bindparam("w_id"), steps_t.c.name == sa.bindparam("s_name"))
                .values({c: sa.bindparam(f"v_{c}") for c in _STEP_COLS if c != "name"})
            )
            params = [
                {"w_id": run.id, "s_name": s.name, **{f"v_{c}": getattr(s, c) for c in _STEP_COLS if c != "name"}}
                for s in rows
            ]
            conn.execute(stmt, params)

    def runs(
        self, *, state: str | None = None, name: str | None = None, limit: int = 50, before: float | None = None
    ) -> list[RunRow]:
        q = sa.select(workflows_t).order_by(workflows_t.c.created_at.desc(), workflows_t.c.id.desc()).limit(limit)
        if state:
            q = q.where(workflows_t.c.state == state)
        if name:
            q = q.where(workflows_t.c.name == name)
        if before is not None:
            q = q.where(workflows_t.c.created_at < before)
        with self.reader.connect() as conn:
            return [RunRow(**{c: r[c] for c in _RUN_COLS}) for r in conn.execute(q).mappings()]

    # -- tasks -----------------------------------------------------------------------------------
    def insert_tasks(self, conn: sa.Connection, rows: Sequence[TaskRow]) -> None:
        if rows:
            conn.execute(tasks_t.insert(), [vars(r) for r in rows])

    def tasks(self, conn: sa.Connection, workflow_id: str, step: str | None = None) -> list[TaskRow]:
        q = sa.select(tasks_t).where(tasks_t.c.workflow_id == workflow_id)
        if step is not None:
            q = q.where(tasks_t.c.step == step)
        return [TaskRow(**r) for r in conn.execute(q.order_by(tasks_t.c.step, tasks_t.c.idx)).mappings()]

    def task_states(self, conn: sa.Connection, workflow_id: str, step: str) -> dict[int, tuple[str, int]]:
        q = sa.select(tasks_t.c.idx, tasks_t.c.state, tasks_t.c.attempts).where(
            tasks_t.c.workflow_id == workflow_id, tasks_t.c.step == step
        )
        return {r.idx: (r.state, r.attempts) for r in conn.execute(q)}

    def outputs(self, conn: sa.Connection, workflow_id: str, step: str) -> list[Any]:
        q = (
            sa.select(tasks_t.c.output)
            .where(tasks_t.c.workflow_id == workflow_id, tasks_t.c.step == step)
            .order_by(tasks_t.c.idx)
        )
        return [r.output for r in conn.execute(q)]

    def update_tasks(
        self, conn: sa.Connection, workflow_id: str, step: str, changes: Sequence[Mapping[str, Any]]
    ) -> None:
        """Apply per-task column changes (each mapping has ``idx`` plus the columns to set)."""
        by_cols: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for ch in changes:
            by_cols.setdefault(tuple(sorted(k for k in ch if k != "idx")), []).append(ch)
        for cols, group in by_cols.items():
            stmt = (
                tasks_t.update()
                .where(
                    tasks_t.c.workflow_id == sa.bindparam("w_id"),
                    tasks_t.c.step == sa.bindparam("s_name"),
                    tasks_t.c.idx == sa.bindparam("t_idx"),
                )
                .values({c: sa.bindparam(f"v_{c}") for c in cols})
            )
            conn.execute(
                stmt,
                [
                    {"w_id": workflow_id, "s_name": step, "t_idx": ch["idx"], **{f"v_{c}": ch[c] for c in cols}}
                    for ch in group
                ],
            )

    def progress_sum(self, conn: sa.Connection, workflow_id: str, step: str) -> float:
        q = sa.select(sa.func.coalesce(sa.func.sum(tasks_t.c.progress), 0.0)).where(
            tasks_t.c.workflow_id == workflow_id, tasks_t.c.step == step, tasks_t.c.state == "running"
        )
        return float(conn.execute(q).scalar_one())

    def open_tasks(self, conn: sa.Connection, workflow_id: str) -> list[TaskRow]:
        q = sa.select(tasks_t).where(tasks_t.c.workflow_id == workflow_id, tasks_t.c.state.in_(["pending", "running"]))
        return [TaskRow(**r) for r in conn.execute(q).mappings()]
