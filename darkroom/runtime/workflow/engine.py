"""The workflow engine: takes ticks off the exclusive events queue and advances their workflows.

Any number of engine processes can run: the events queue is exclusive on ``workflow``, so no two
of them ever hold ticks of one workflow at once, and no lock is needed. A pass is::

    drain the inbox -> load the run -> plan (planner.py) -> enqueue/cancel tasks -> commit -> ack

Queue work happens before the commit and is idempotent (deterministic task ids), so an engine
killed anywhere in a pass leaves a state that the next pass, on another engine, completes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.errors import WorkflowNotFound
from darkroom.runtime.functions import Registry
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.workflow.inbox import Inbox
from darkroom.runtime.workflow.planner import Planner, parse_reports
from darkroom.runtime.workflow.store import RunRow, WorkflowStore

__all__ = ["Engine", "PassRecord"]

_log = logging.getLogger(__name__)

# (workflow id, engine name, monotonic start, monotonic end): tests record passes to prove that
# two engines never advance one workflow at the same time.
PassRecord = tuple[str, str, float, float]


class Engine:
    def __init__(
        self,
        queue: dq.RedisQueue,
        db: sa.Engine,
        registry: Registry,
        *,
        inbox: Inbox | None = None,
        operations: Any = None,
        name: str | None = None,
        on_pass: Callable[[PassRecord], None] | None = None,
        metrics: Any = None,
    ) -> None:
        self.queue = queue
        self.store = WorkflowStore(db)
        self.db = db
        self.registry = registry
        self.inbox = inbox or Inbox(queue)
        self.operations = operations
        self.name = name or f"engine@{socket.gethostname()}:{os.getpid()}"
        self.on_pass = on_pass
        self.metrics = metrics
        self._queue_keys: dict[str, tuple[str, ...]] | None = None

    def setup(self) -> None:
        self.inbox.ensure_queue()
        self._queue_keys = ensure_queues(self.queue, self.registry)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, batch: int = 32, wait_s: float = 1.0) -> None:
        """Advance workflows until ``stop`` is set (checked at least every ``wait_s``)."""
        self.setup()
        while not stop.is_set():
            self.run_once(batch=batch, wait_s=wait_s)

    def run_once(self, *, batch: int = 32, wait_s: float = 0.0) -> int:
        """Take up to ``batch`` ticks (waiting up to ``wait_s``) and advance their workflows."""
        if self._queue_keys is None:
            self.setup()
        leases = self.queue.dequeue(self.inbox.events_queue, max_messages=batch, wait_s=wait_s)
        done: list[dq.Lease] = []
        for lease in leases:
            wid = lease.message.metadata.get("workflow", "")
            started = time.monotonic()
            try:
                self.advance(wid, tick_id=lease.message.id)
            except Exception as exc:
                _log.exception("pass over workflow %s failed", wid)
                if self.metrics:
                    self.metrics.pass_failed(wid)
                with contextlib.suppress(dq.LeaseLost):
                    self.queue.fail(lease, error=f"{type(exc).__name__}: {exc}"[:500], retry_in_s=1.0)
                continue
            if self.on_pass:
                self.on_pass((wid, self.name, started, time.monotonic()))
            if self.metrics:
                self.metrics.pass_done(time.monotonic() - started)
            done.append(lease)
        if done:
            self.queue.complete_many(done)
        return len(leases)

    # -- one pass --------------------------------------------------------------------------------
    def advance(self, workflow_id: str, *, tick_id: str = "") -> RunRow | None:
        entries = self.inbox.drain(workflow_id)
        reports = parse_reports(entries)
        with self.db.begin() as conn:
            try:
                run = self.store.load(conn, workflow_id)
            except WorkflowNotFound:
                run = None
            finished = True if run is None or run.done else self._plan(conn, run, reports, tick_id)
        self.inbox.ack(workflow_id, entries)
        if finished:
            self.inbox.discard([workflow_id])
        return run

    def _plan(self, conn: sa.Connection, run: RunRow, reports: Any, tick_id: str) -> bool:
        keys = self._queue_keys or {}
        try:
            definition = self.registry.workflow(run.name)
        except WorkflowNotFound as exc:
            run.state, run.error, run.ended_at = "failed", str(exc), time.time()
            self.store.save(conn, run, [])
            self._sync_operation(conn, run, str(exc))
            return True
        planner = Planner(run, definition, self.registry, self.store, conn, keys)
        planner.apply(reports)
        if reports.cancel is not None:
            planner.cancel_run(reports.cancel)
        else:
            early = planner.check_timeouts()
            planner.advance()
            if ":timeout-" in tick_id:
                # a timer fired before the step's time was up by our clock: arm it again
                for step, left in early:
                    planner.timers.append((step, left + 0.05))
        planner.finish()
        # Queue work first: task ids are deterministic, so a pass repeated after a crash between
        # here and the commit enqueues nothing twice.
        for queue_name, messages in planner.enqueue.items():
            for i in range(0, len(messages), 500):
                self.queue.enqueue_many(queue_name, messages[i : i + 500])
        for queue_name, mid in planner.cancel:
            with contextlib.suppress(dq.Conflict, dq.MessageNotFound):  # already finished or purged
                self.queue.cancel(queue_name, mid)
        for step, delay in planner.timers:
            name = f"timeout-{step}-{int((planner.now + delay) * 1000)}"
            self.inbox.tick(run.id, run.deadline, delay_s=delay, name=name)
        self.store.insert_tasks(conn, planner.new_tasks)
        self.store.save(conn, run, planner.changed)
        self._sync_operation(conn, run, planner.status_message())
        if self.metrics:
            self.metrics.tasks_started(len(planner.new_tasks))
            if run.done:
                self.metrics.workflow_finished(run.name, run.state)
        return run.done

    def _sync_operation(self, conn: sa.Connection, run: RunRow, message: str) -> None:
        if self.operations is None:
            return
        from darkroom.runtime.operations import OperationState

        state = {
            "succeeded": OperationState.SUCCEEDED,
            "failed": OperationState.FAILED,
            "canceled": OperationState.CANCELED,
        }.get(run.state, OperationState.RUNNING)
        extra: dict[str, Any] = {}
        if state == OperationState.SUCCEEDED:
            extra["result"] = run.outputs
        elif state in (OperationState.FAILED, OperationState.CANCELED):
            extra.update(error_code="WORKFLOW_" + run.state.upper(), error_message=run.error or run.state)
        self.operations.update(run.id, progress=run.progress, message=message[:200], state=state, conn=conn, **extra)
