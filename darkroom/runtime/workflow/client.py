"""Starting, watching and canceling workflow runs (what the API layer and the CLI call)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from ulid import ULID

import darkroom.queue as dq
from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow.dag import PRIORITIES
from darkroom.runtime.workflow.inbox import Inbox, Report
from darkroom.runtime.workflow.inputs import check_run_inputs
from darkroom.runtime.workflow.planner import CANCEL_FIELD
from darkroom.runtime.workflow.store import RunRow, StepRow, TaskRow, WorkflowStore

if TYPE_CHECKING:
    from darkroom.runtime.operations import OperationStore

__all__ = ["Workflows"]


class Workflows:
    def __init__(
        self,
        queue: dq.RedisQueue,
        db: sa.Engine,
        registry: Registry,
        *,
        inbox: Inbox | None = None,
        operations: OperationStore | None = None,
    ) -> None:
        self.store = WorkflowStore(db)
        self.db = db
        self.registry = registry
        self.inbox = inbox or Inbox(queue)
        self.operations = operations
        self._queue_ready = False

    def start(
        self,
        name: str,
        inputs: Mapping[str, Any],
        *,
        priority: str | None = None,
        deadline: float | datetime | None = None,
        id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> RunRow:
        """Record a new run (and its operation, whose id is the run's id) and wake an engine.

        The deadline is ``deadline`` or now + the priority class's budget; every task of the run
        is due by then, so the queue serves the most urgent run's work first. Starting again
        with the same ``id`` returns the existing run.
        """
        definition = self.registry.workflow(name)
        definition.check_inputs(inputs)
        self.registry.check(definition)
        try:
            json.dumps(dict(inputs))
        except (TypeError, ValueError) as exc:
            raise InvalidWorkflow(f"workflow {name!r}: inputs are not JSON: {exc}") from None
        inputs = check_run_inputs(definition, self.registry, inputs)  # refused now, not at the step
        priority = priority or definition.priority
        if priority not in PRIORITIES:
            raise InvalidWorkflow(f"priority {priority!r} is not one of {sorted(PRIORITIES)}")
        now = time.time()
        if isinstance(deadline, datetime):
            deadline = deadline.timestamp()
        due = float(deadline) if deadline is not None else now + PRIORITIES[priority]
        run = RunRow(
            id=id or f"wf_{str(ULID()).lower()}",
            name=name,
            state="pending",
            inputs=dict(inputs),
            priority=priority,
            deadline=round(due, 3),
            created_at=now,
            updated_at=now,
            steps={n: StepRow(n, s.kind) for n, s in definition.steps.items()},
        )
        with self.db.begin() as conn:
            created = self.store.create(conn, run)
            if created and self.operations is not None:
                self.operations.create(kind="workflow", target=run.id, id=run.id, labels=labels, conn=conn)
        if not created:
            existing = self.store.get(run.id)
            if existing.state == "pending":
                self.inbox.tick(existing.id, existing.deadline)  # the first start may have died before its tick
            return existing
        if not self._queue_ready:
            self.inbox.ensure_queue()
            self._queue_ready = True
        self.inbox.tick(run.id, run.deadline)
        return run

    def cancel(self, workflow_id: str, reason: str = "canceled by request") -> RunRow:
        """Ask the engine to cancel a run: pending tasks are canceled in the queue and running
        ones lose their lease, which tells their workers to stop."""
        run = self.store.get(workflow_id)
        if not run.done:
            self.inbox.post([Report(workflow_id, CANCEL_FIELD, reason.encode(), run.deadline)])
        return run

    def get(self, workflow_id: str) -> RunRow:
        return self.store.get(workflow_id)

    def tasks(self, workflow_id: str, step: str | None = None) -> list[TaskRow]:
        with self.store.reader.connect() as conn:
            return self.store.tasks(conn, workflow_id, step)

    def runs(
        self, *, state: str | None = None, name: str | None = None, limit: int = 50, before: float | None = None
    ) -> list[RunRow]:
        return self.store.runs(state=state, name=name, limit=limit, before=before)
