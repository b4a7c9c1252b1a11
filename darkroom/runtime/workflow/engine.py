"""The workflow engine: takes ticks off the exclusive events queue and advances their workflows.

Any number of engine processes can run: the events queue is exclusive on ``workflow``, so no two
of them ever hold ticks of one workflow at once, and no lock is needed. A pass is::

    drain the inbox -> [load the run -> plan (planner.py) -> write -> commit] -> enqueue/cancel tasks -> ack

The database transaction holds no Redis round trip (on SQLite it holds the one write lock that
every process's passes queue for). The queue work follows the commit, and a pass that died
between the two is made good by the next holder of the run's tick: a tick delivered again (its
lease expired, or its pass failed) reissues what the rows say was asked of the queue, and task
ids are deterministic, so nothing is enqueued twice (docs/runtime.md, "A pass, step by step").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.queue.instructions import Op
from darkroom.runtime.errors import InvalidWorkflow, WorkflowNotFound
from darkroom.runtime.functions import Registry
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.task import TaskOutcome, TaskSpec
from darkroom.runtime.workflow.endings import Ending, StatesBefore, endings
from darkroom.runtime.workflow.inbox import Inbox, Report
from darkroom.runtime.workflow.planner import REISSUE_FIELD, Planner, Reports, parse_reports
from darkroom.runtime.workflow.queue_work import Grab, QueueWork
from darkroom.runtime.workflow.run_events import RunEvent, RunEventSink, run_events
from darkroom.runtime.workflow.store import RunRow, WorkflowStore
from darkroom.storage.db import savepoint

if TYPE_CHECKING:
    from darkroom.runtime.metrics import EngineMetrics
    from darkroom.runtime.operations import OperationStore

__all__ = ["Advanced", "Engine", "Grab", "PassRecord"]

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
        operations: OperationStore | None = None,
        name: str | None = None,
        on_pass: Callable[[PassRecord], None] | None = None,
        metrics: EngineMetrics | None = None,
        events: RunEventSink | None = None,
    ) -> None:
        """``events``: where each pass records the ``step.finished`` / ``workflow.finished`` events
        of what it ended, in its own transaction (None: no events; ``run_events.py``)."""
        self.queue = queue
        self.store = WorkflowStore(db)
        self.db = db
        self.registry = registry
        self.inbox = inbox or Inbox(queue)
        self.operations = operations
        self.name = name or f"engine@{socket.gethostname()}:{os.getpid()}"
        self.on_pass = on_pass
        self.metrics = metrics
        self.events = events
        self._queue_keys: dict[str, tuple[str, ...]] | None = None
        self.claimable = False  # set by setup(): can a worker claim the tick of one given run?
        # Runs whose tick the caller kept after their last pass, as that pass left their rows: under
        # a kept tick nothing else writes them, so its next pass need not load them again.
        self._kept_rows: dict[str, RunRow] = {}
        self._held: set[_Held] = set()
        self._held_lock = threading.Lock()
        self._keeper: threading.Thread | None = None
        self._keeper_stop = threading.Event()

    def setup(self) -> None:
        self.claimable = self.inbox.ensure_queue()
        self._queue_keys = ensure_queues(self.queue, self.registry)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, batch: int = 32, wait_s: float = 1.0, reconcile_s: float = 10.0) -> None:
        """Advance workflows until ``stop`` is set (checked at least every ``wait_s``); every
        ``reconcile_s``, look for what the queue knows and the runs do not (:meth:`reconcile`)."""
        self.setup()
        next_reconcile = time.monotonic() + reconcile_s
        try:
            while not stop.is_set():
                self.run_once(batch=batch, wait_s=min(wait_s, reconcile_s))
                if time.monotonic() >= next_reconcile:
                    try:
                        self.reconcile()
                    except Exception:
                        _log.exception("reconciling failed")
                    next_reconcile = time.monotonic() + reconcile_s
        finally:
            self.close()

    def run_once(self, *, batch: int = 32, wait_s: float = 0.0) -> int:
        """Take up to ``batch`` ticks (waiting up to ``wait_s``) and advance their workflows."""
        if self._queue_keys is None:
            self.setup()
        leases = self.queue.dequeue(self.inbox.events_queue, max_messages=batch, wait_s=wait_s)
        if leases:
            self.advance_leased(leases)
        return len(leases)

    def advance_leased(
        self,
        leases: list[dq.Lease],
        *,
        drained: dict[str, dict[str, bytes]] | None = None,
        also: Sequence[Op[object]] = (),
        after: Sequence[Op[object]] = (),
        retain: Callable[[str], bool] | None = None,
        from_memory: bool = False,
        grab: Grab | None = None,
    ) -> Advanced:
        """Advance the workflows of tick leases held by this process (an engine's batch, or the
        ticks a worker claimed for the runs of its tasks), then complete the ticks; a failed
        pass's tick is failed with a retry in 1 s. While the passes run their leases are
        extended, so no other process can take one of these workflows meanwhile.

        ``drained``: inboxes already drained after the leases were won (folded into the claim's
        round trip). ``also``: more queue operations (a worker's settles), run in the round trip
        of the pass's enqueue (after the commit), else in the one that completes the ticks.
        ``after``: operations that must follow the commit and may wait (a kept tick's settles:
        off the path from one step to the next), run in the round trip that completes the
        ticks if there is one (``Advanced.after`` is None if not). ``retain``: asked after the commit for each
        run passed; True keeps that tick's lease with the caller, neither completed nor its
        reports acknowledged, for its next pass (``Advanced.kept``); the run's rows as the pass
        left them stay in memory for that next pass, which takes them instead of loading them
        when the caller says ``from_memory`` (it passes under the tick it kept;
        :meth:`forget_rows` when it gives a tick back). ``grab``: takes some of the tasks the
        passes enqueue, in the enqueue's own script call (a worker advancing its runs takes the
        next tasks for its free slots).
        """
        if self._queue_keys is None:
            self.setup()
        # The queue is exclusive on ``workflow``: the ticks of one batch are of different runs.
        ticks = {lease.message.metadata.get("workflow", ""): lease for lease in leases}
        # A tick delivered again may follow a pass that died after its commit, before its queue
        # work: its pass reissues. Not under a kept tick: the pass before was this process's own.
        again = set() if from_memory else {w for w, lease in ticks.items() if lease.message.attempts > 1}
        started = time.monotonic()
        with self._keeping(leases):
            done = self._pass(
                {w: lease.message.id for w, lease in ticks.items()},
                drained,
                also=also,
                from_memory=from_memory,
                grab=grab,
                again=again,
            )
        ended = time.monotonic()
        out = Advanced(done.also, failed=set(done.failures))
        if retain is not None:
            for w, lease in ticks.items():
                if w not in done.failures and w not in done.finished and retain(w):
                    out.kept[w] = (lease, done.entries.get(w, {}))
                    if w in done.runs:
                        self._kept_rows[w] = done.runs[w]
        # One round trip for what follows the commit: acknowledge the reports, forget finished
        # runs, complete (or fail) the ticks, and the caller's operations if the pass had none.
        acks = {w: e for w, e in done.entries.items() if w not in done.failures and w not in out.kept}
        ops: list[Op[object]] = [*self.inbox.ack_ops(acks), *self.inbox.discard_ops(done.finished)]
        inbox_ops = len(ops)
        completed = [lease for w, lease in ticks.items() if w not in done.failures and w not in out.kept]
        if completed:
            ops.append(self.queue.ops.complete_many(completed))
        for wid, exc in done.failures.items():
            ops.append(self.queue.ops.fail(ticks[wid], error=f"{type(exc).__name__}: {exc}"[:500], retry_in_s=1.0))
        late = list(also) if done.also is None else []
        ops += late
        tail = list(after) if ops else []
        ops += tail
        results = self.queue.batch(ops) if ops else []
        if any(isinstance(r, Exception) for r in results[:inbox_ops]):
            self.inbox.ack(acks)  # a script the server lost: the plain calls load it again
            self.inbox.discard(done.finished)
        ours = len(ops) - len(late) - len(tail)
        for r in results[inbox_ops:ours]:
            if isinstance(r, Exception) and not isinstance(r, dq.LeaseLost):
                raise r
        if late:
            out.also = results[ours : ours + len(late)]
        if tail:
            out.after = results[ours + len(late) :]
        for wid in ticks:
            if wid not in done.failures and self.on_pass:
                self.on_pass((wid, self.name, started, ended))
        if self.metrics:
            self.metrics.pass_done((ended - started) / len(ticks))
            self.metrics.tasks_started(done.started)
        return out

    def reconcile(self, *, limit: int = 1000, pending_after_s: float = 5.0) -> int:
        """Report what no worker reported, and wake runs whose first tick was lost.

        A worker that dies during a task's last attempt never reports: the queue errors the task
        when its lease expires, and nobody tells the workflow. Likewise a task message canceled by
        hand, or a result report lost with its Redis data. So: unfinished tasks of running runs
        are checked against the queue, and finished ones reported as their worker would have
        (duplicates of reports in flight are harmless). Returns the number of reports posted.
        """
        reports: list[Report] = []
        now = time.time()
        open_tasks = self.store.open_tasks_of_live_runs(limit)
        # one pipelined round trip for every message (a batch's items share theirs), not one each
        messages = sorted({(task.queue, task.message_id) for task, _ in open_tasks})
        fields = ["state", "attempts", "last_error", "result", "payload"]
        found = dict(
            zip(messages, self.queue.batch([self.queue.ops.get(q, m, fields) for q, m in messages]), strict=True)
        )
        reissue: set[str] = set()
        for task, deadline in open_tasks:
            error: str | None
            output: Any
            msg = found[(task.queue, task.message_id)]
            if isinstance(msg, dq.MessageNotFound) and task.state == "pending":
                # Its pass committed and has not enqueued it yet (or died before it could): the
                # run's next pass makes the message if it is still missing then.
                if task.workflow_id not in reissue:
                    reissue.add(task.workflow_id)
                    reports.append(Report(task.workflow_id, REISSUE_FIELD, b"1", deadline))
                continue
            if isinstance(msg, dq.MessageNotFound):
                state, attempts, error, output = "failed", task.attempts, "the task's queue message is gone", None
            elif isinstance(msg, Exception):
                raise msg
            elif msg.state == dq.State.COMPLETED:
                state, attempts, error = "succeeded", msg.attempts, None
                output = json.loads(msg.result) if msg.result else None
                if _is_batch(msg.payload) and isinstance(output, list):
                    # a batch's result lists its items' outputs, from the item its message is named after
                    first = int(task.message_id.rsplit(":", 1)[1])
                    output = output[task.idx - first] if 0 <= task.idx - first < len(output) else None
            elif msg.state in (dq.State.ERRORED, dq.State.CANCELED):
                state, attempts, output = "failed", msg.attempts, None
                error = msg.last_error or f"the task was {msg.state} in the queue"
            else:
                continue
            outcome = TaskOutcome(state, attempts, "reconciler", now, output=output, error=error)
            reports.append(Report(task.workflow_id, f"{task.step}#{task.idx}:r", outcome.encode(), deadline))
        self.inbox.post(reports)
        for wid, deadline in self.store.stale_pending_runs(now - pending_after_s):
            self.inbox.tick(wid, deadline)
        return len(reports)

    @contextlib.contextmanager
    def _keeping(self, leases: list[dq.Lease]) -> Iterator[None]:
        """Extend these tick leases while their passes run, so that a slow batch (a huge map being
        planned, a slow database) never lets another process take one of its workflows. One keeper
        thread per engine serves every batch (starting a thread per pass costs more than a pass)."""
        lease_s = max(1.0, leases[0].expires_at - time.time()) if leases else 5.0
        entry = _Held(leases, lease_s)
        with self._held_lock:
            self._held.add(entry)
            if self._keeper is None or not self._keeper.is_alive():
                self._keeper_stop.clear()
                self._keeper = threading.Thread(target=self._keep, name="darkroom-tick-keeper", daemon=True)
                self._keeper.start()
        try:
            yield
        finally:
            with self._held_lock:
                self._held.discard(entry)

    def _keep(self) -> None:
        while not self._keeper_stop.wait(_KEEPER_TICK_S):
            now = time.monotonic()
            with self._held_lock:
                due = [h for h in self._held if now - h.extended >= h.lease_s / 3]
            for held in due:
                for lease in held.leases:
                    with contextlib.suppress(dq.QueueError):
                        self.queue.extend(lease)
                held.extended = time.monotonic()

    def close(self) -> None:
        """Stop the lease keeper thread (it is a daemon; this is for tidiness)."""
        self._keeper_stop.set()
        keeper = self._keeper
        if keeper is not None:
            keeper.join(timeout=5)

    # -- one pass over several workflows --------------------------------------------------------
    def advance(self, workflow_id: str, *, tick_id: str = "") -> None:
        """One pass over one workflow (raises what the pass raised)."""
        failures = self.advance_many({workflow_id: tick_id})
        if failures:
            raise failures[workflow_id]

    def advance_many(self, ticks: dict[str, str]) -> dict[str, Exception]:
        """One pass over each workflow (``{workflow id: tick id}``) in one transaction and a few
        round trips; answers the workflows whose pass failed (their part was rolled back)."""
        done = self._pass(ticks, None)
        self.inbox.ack({w: e for w, e in done.entries.items() if w not in done.failures})
        self.inbox.discard(done.finished)
        if self.metrics:
            self.metrics.tasks_started(done.started)
        return done.failures

    def forget_rows(self, runs: Iterable[str]) -> None:
        """Drop the rows kept for ``runs`` (their ticks were given back: others may pass them now)."""
        for w in runs:
            self._kept_rows.pop(w, None)

    def _pass(
        self,
        ticks: dict[str, str],
        drained: dict[str, dict[str, bytes]] | None,
        *,
        also: Sequence[Op[object]] = (),
        from_memory: bool = False,
        grab: Grab | None = None,
        again: frozenset[str] | set[str] = frozenset(),
    ) -> _Passed:
        """Drain, plan and commit, then the queue work (acknowledging is the caller's). The runs
        in ``again`` reissue (their tick was delivered again)."""
        # rows kept from the last pass are used at most once, and only under the tick kept since
        kept = {w: row for w in ticks if (row := self._kept_rows.pop(w, None)) is not None and from_memory}
        entries = dict(drained or {})
        missing = [w for w in ticks if w not in entries]
        if missing:
            entries.update(self.inbox.drain(missing))
        work = QueueWork()
        done = _Passed(entries)
        ended: dict[str, list[Ending]] = {}
        # One workflow (the usual case when a worker advances its own run, or an idle engine): its
        # pass is the whole transaction, so a failure rolls that back and no savepoint is needed.
        alone = len(ticks) == 1
        with self.db.connect() as conn, conn.begin() as transaction:
            for wid, tick_id in ticks.items():
                try:
                    with contextlib.nullcontext() if alone else savepoint(conn):
                        reports = parse_reports(entries[wid])
                        reissue = reports.reissue or wid in again
                        planner = self._plan(conn, wid, reports, tick_id, kept=kept.get(wid), reissue=reissue)
                        if planner is not None and planner.before is not None:
                            ended[wid] = endings(planner, planner.before)
                except Exception as exc:
                    _log.exception("pass over workflow %s failed", wid)
                    if self.metrics:
                        self.metrics.pass_failed(wid)
                    done.failures[wid] = exc
                    continue
                if planner is None or planner.run.done:
                    done.finished.append(wid)
                if planner is not None:
                    work.add(planner)
                    done.runs[wid] = planner.run
            if alone and done.failures:
                transaction.rollback()
                return done
            if self.events is not None:
                try:
                    self._record_events(conn, self.events, ended, done)
                except Exception as exc:
                    _log.exception(
                        "recording the run events of %d pass(es) failed; their ticks are retried", len(ticks)
                    )
                    transaction.rollback()
                    return self._all_failed(ticks, done, exc)
        if self.metrics is not None:  # committed: what the rows now say happened did happen
            for wid, observed in ended.items():
                if wid not in done.failures:
                    for ending in observed:
                        ending.record(self.metrics)
        # Committed. The queue work follows, outside the transaction: on SQLite a Redis round trip
        # inside it would hold the database's one write lock, and every process's passes queue
        # for that lock. A crash from here to the end of the queue work leaves the tick to be
        # delivered again, and that pass reissues (a failure here fails the ticks, to the same end).
        try:
            carried = work.carry_out(self.queue, self.inbox, grab, also)
        except Exception as exc:
            _log.exception("the queue work of %d committed pass(es) failed; their ticks are retried", len(done.runs))
            for wid in done.runs:
                done.failures[wid] = exc
                if self.metrics:
                    self.metrics.pass_failed(wid)
            done.finished = [w for w in done.finished if w not in done.failures]
            return done
        done.also = carried
        done.started = work.started
        return done

    @staticmethod
    def _record_events(conn: sa.Connection, sink: RunEventSink, ended: dict[str, list[Ending]], done: _Passed) -> None:
        """The run events of what the batch's passes ended, to ``sink`` in one call, in the batch's
        transaction: recorded if and only if it commits (a failed pass's part is rolled back)."""
        events: list[RunEvent] = []
        for wid, observed in ended.items():
            if observed and wid not in done.failures:
                events += run_events(done.runs[wid], observed)
        if events:
            sink.record(conn, events)

    def _all_failed(self, ticks: dict[str, str], done: _Passed, exc: Exception) -> _Passed:
        """``done`` with every pass of the batch failed by ``exc`` (the transaction rolled back)."""
        for wid in ticks:
            if wid not in done.failures:
                done.failures[wid] = exc
                if self.metrics:
                    self.metrics.pass_failed(wid)
        done.finished, done.runs = [], {}
        return done

    def _plan(
        self,
        conn: sa.Connection,
        workflow_id: str,
        reports: Reports,
        tick_id: str,
        *,
        kept: RunRow | None = None,
        reissue: bool = False,
    ) -> Planner | None:
        try:
            run = kept if kept is not None else self.store.load(conn, workflow_id)
        except WorkflowNotFound:
            return None
        if run.done and not reissue:
            return None
        try:
            definition = self.registry.workflow(run.name)
        except WorkflowNotFound as exc:
            if run.done:
                return None
            run.state, run.error, run.ended_at = "failed", str(exc), time.time()
            self.store.save(conn, run, [])
            self._sync_operation(conn, run, str(exc))
            return None
        planner = Planner(run, definition, self.registry, self.store, conn, self._queue_keys or {})
        if self.metrics is not None or self.events is not None:  # what this pass ends is timed (endings)
            planner.before = StatesBefore.of(run)
        if run.done:  # closed by a pass that may have died before its cancels: cancel again
            planner.reissue()
            return planner
        # Reports of tasks whose rows this pass creates apply once ``advance`` has made the rows.
        # (An engine that enqueued before committing, as earlier versions did, and died between
        # the two left tasks that ran and reported before any row of theirs existed.)
        pending = planner.apply(reports)
        if reports.cancel is not None:
            planner.cancel_run(reports.cancel)
        else:
            early = planner.check_timeouts()
            planner.advance()
            while pending and planner.new_tasks:
                before = len(planner.new_tasks)
                pending = planner.apply(pending)
                planner.advance()
                if len(planner.new_tasks) == before:
                    break
            if ":timeout-" in tick_id:
                # a timer fired before the step's time was up by our clock: arm it again
                planner.timers += [(step, left + 0.05) for step, left in early]
        planner.finish()
        if reissue and not run.done:
            planner.reissue()
            planner.finish()  # a task that cannot be made again failed its step
        self.store.save(conn, run, planner.changed)
        self._sync_operation(conn, run, planner.status_message())
        return planner

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


_KEEPER_TICK_S = 0.25


@dataclass
class _Passed:
    entries: dict[str, dict[str, bytes]]
    failures: dict[str, Exception] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)
    started: int = 0
    also: list[object] | None = None  # results of the caller's operations, if they ran with the enqueue
    runs: dict[str, RunRow] = field(default_factory=dict)  # each run as its pass left it


@dataclass
class Advanced:
    """What :meth:`Engine.advance_leased` did beyond the passes."""

    also: list[object] | None  # results of the caller's operations (None: they did not run)
    failed: set[str] = field(default_factory=set)  # runs whose pass failed (rolled back; tick retried)
    after: list[object] | None = None  # results of the ``after`` operations (None: they did not run)
    # runs whose tick lease the caller keeps: the lease and the reports to acknowledge later
    kept: dict[str, tuple[dq.Lease, dict[str, bytes]]] = field(default_factory=dict)


class _Held:
    """Tick leases a batch holds, and when the keeper last extended them (identity-hashed)."""

    def __init__(self, leases: list[dq.Lease], lease_s: float) -> None:
        self.leases = leases
        self.lease_s = lease_s
        self.extended = time.monotonic()


def _is_batch(payload: bytes) -> bool:
    try:
        return TaskSpec.decode(payload).batch is not None
    except InvalidWorkflow:
        return False
