"""One engine pass over one workflow run: fold in reports, start ready steps, finish the run.

The planner only decides; it collects the queue work (task messages to enqueue, tasks to cancel,
timers) and the rows to write, and the engine carries them out after committing the rows. Every
decision is guarded by the stored states, so the same reports applied twice change nothing. A pass
that may follow one that died between its commit and its queue work *reissues*: it asks the queue
again for what the committed rows say (:meth:`Planner.reissue`).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.errors import FunctionNotFound, InvalidWorkflow
from darkroom.runtime.functions import Function, Registry
from darkroom.runtime.queues import exclusive_metadata, task_metadata
from darkroom.runtime.task import TaskOutcome, TaskSpec, task_id
from darkroom.runtime.workflow.dag import Step, Workflow, resolve
from darkroom.runtime.workflow.store import TERMINAL, RunRow, StepRow, TaskRow, WorkflowStore

if TYPE_CHECKING:
    from darkroom.runtime.workflow.endings import StatesBefore

__all__ = ["CANCEL_FIELD", "REISSUE_FIELD", "Planner", "parse_reports"]

CANCEL_FIELD = "ctl:cancel"
# asks the next pass to reissue (the reconciler found a pending task without its message)
REISSUE_FIELD = "ctl:reissue"


def _reached(steps: list[StepRow]) -> float:
    """The share of a run's work done: a succeeded step counts whole, a running, failed or
    canceled one the fraction it had reached, a waiting or skipped one nothing. Ended is not done:
    a failed run stops at the progress it had, never 1.0."""
    done = sum(1.0 if s.state == "succeeded" else 0.0 if s.state in _NOT_STARTED else s.progress for s in steps)
    return round(done / max(1, len(steps)), 4)


_NOT_STARTED = frozenset({"waiting", "skipped"})


@dataclass
class Reports:
    cancel: str | None = None
    reissue: bool = False
    # step -> idx -> kind ("s" started/retrying, "p" progress, "r" result) -> outcome
    tasks: dict[str, dict[int, dict[str, TaskOutcome]]] = field(default_factory=dict)


def parse_reports(entries: dict[str, bytes]) -> Reports:
    out = Reports()
    for key, raw in entries.items():
        if key == CANCEL_FIELD:
            out.cancel = raw.decode() or "canceled"
            continue
        if key == REISSUE_FIELD:
            out.reissue = True
            continue
        try:
            head, kind = key.rsplit(":", 1)
            step, idx = head.rsplit("#", 1)
            outcome = TaskOutcome.decode(raw)
            out.tasks.setdefault(step, {}).setdefault(int(idx), {})[kind] = outcome
        except (ValueError, TypeError, json.JSONDecodeError):
            continue  # not ours or garbled: ignored (and acknowledged, so it cannot wedge the run)
    return out


@dataclass
class Planner:
    run: RunRow
    definition: Workflow
    registry: Registry
    store: WorkflowStore
    conn: sa.Connection
    queue_keys: dict[str, tuple[str, ...]]
    now: float = field(default_factory=time.time)
    changed: set[str] = field(default_factory=set)
    enqueue: dict[str, list[dq.NewMessage]] = field(default_factory=lambda: defaultdict(list))
    # messages the rows say were issued by an earlier pass: enqueued again only where missing
    reissued: dict[str, list[dq.NewMessage]] = field(default_factory=lambda: defaultdict(list))
    cancel: list[tuple[str, str]] = field(default_factory=list)
    timers: list[tuple[str, float]] = field(default_factory=list)
    new_tasks: list[TaskRow] = field(default_factory=list)
    # the states when the pass began: set only when the engine times what the pass ends
    before: StatesBefore | None = None

    # -- reports ---------------------------------------------------------------------------------
    def apply(self, reports: Reports) -> Reports:
        """Fold task reports into the run; answers those of tasks that have no row (yet)."""
        missing = Reports()
        if self.run.state == "pending":
            self.run.state, self.run.started_at = "running", self.now
        for step_name, items in reports.tasks.items():
            step = self.run.steps.get(step_name)
            if step is None or step.state in TERMINAL:
                continue
            if step.state == "waiting":
                missing.tasks[step_name] = items
                continue
            states = self.store.task_states(self.conn, self.run.id, step_name, items)
            changes: list[dict[str, Any]] = []
            succeeded, failed = 0, None
            outputs: dict[int, Any] = {}
            for idx, kinds in items.items():
                state, _ = states.get(idx, ("", 0))
                if not state:
                    missing.tasks.setdefault(step_name, {})[idx] = kinds
                if state not in ("pending", "running"):
                    continue
                first = kinds.get("s") or kinds.get("p") or kinds["r"]
                ch: dict[str, Any] = {"idx": idx, "worker": first.worker, "started_at": first.started or first.at}
                final = kinds.get("r")
                if final is not None:
                    ch.update(state=final.state, attempts=final.attempt, ended_at=final.at, error=final.error)
                    if final.state == "succeeded":
                        ch.update(output=final.output, progress=1.0)
                        succeeded += 1
                        outputs[idx] = final.output
                    else:
                        failed = failed or (idx, final.error or "failed")
                else:
                    latest = kinds.get("p") or first
                    ch.update(state="running", attempts=first.attempt, progress=latest.progress)
                    ch.update(message=latest.message[:200], error=first.error)
                changes.append(ch)
                step.attempts = max(step.attempts, int(ch.get("attempts", 0)))
                step.worker = ch["worker"]
                step.message = (kinds.get("p") or first).message[:200] or step.message
            self.store.update_tasks(self.conn, self.run.id, step_name, changes)
            step.items_done += succeeded
            self.changed.add(step_name)
            if failed is not None:
                where = f"item {failed[0]}: " if step.kind == "map" else ""
                self._fail_step(step_name, where + failed[1])
            elif step.items_total is not None and step.items_done >= step.items_total:
                # every item succeeding in this very pass (a task step's one item): the outputs are
                # in hand, as they were just written, so they need not be read back
                in_hand = [outputs[i] for i in range(step.items_total)] if len(outputs) == step.items_total else None
                self._succeed_step(step_name, in_hand)
            elif step.items_total:
                running = self.store.progress_sum(self.conn, self.run.id, step_name)
                step.progress = min(1.0, (step.items_done + running) / step.items_total)
        return missing

    def _succeed_step(self, name: str, outputs: list[Any] | None = None) -> None:
        step = self.run.steps[name]
        if outputs is None:
            outputs = self.store.outputs(self.conn, self.run.id, name)
        step.output = outputs if step.kind == "map" else (outputs[0] if outputs else None)
        step.state, step.progress, step.ended_at = "succeeded", 1.0, self.now
        self.changed.add(name)

    def _fail_step(self, name: str, error: str) -> None:
        step = self.run.steps[name]
        step.state, step.error, step.ended_at = "failed", error, self.now
        self.changed.add(name)

    # -- timers and cancel -----------------------------------------------------------------------
    def check_timeouts(self) -> list[tuple[str, float]]:
        """Fail running steps past their timeout; answer (step, seconds left) for the others."""
        early = []
        for name, step in self.run.steps.items():
            timeout = self.definition.steps[name].timeout_s
            if step.state != "running" or timeout is None or step.started_at is None:
                continue
            left = step.started_at + timeout - self.now
            if left <= 0:
                self._fail_step(name, f"step timed out after {timeout:g}s")
            else:
                early.append((name, left))
        return early

    def cancel_run(self, reason: str) -> None:
        self._close("canceled", reason)

    def _close(self, state: str, error: str | None) -> None:
        messages = set(self.cancel)
        for t in self.store.open_tasks(self.conn, self.run.id):
            if (t.queue, t.message_id) not in messages:  # a batch's items share one message
                messages.add((t.queue, t.message_id))
                self.cancel.append((t.queue, t.message_id))
            self.store.update_tasks(self.conn, self.run.id, t.step, [{"idx": t.idx, "state": "canceled"}])
        for name, step in self.run.steps.items():
            if step.state == "waiting":
                step.state = "skipped"
            elif step.state == "running":
                step.state, step.ended_at = "canceled", self.now
            self.changed.add(name)
        self.run.state, self.run.error, self.run.ended_at = state, error, self.now

    # -- starting steps --------------------------------------------------------------------------
    def advance(self) -> None:
        progressed = True
        while progressed and not self.run.done:
            progressed = False
            for name, spec in self.definition.steps.items():
                step = self.run.steps[name]
                if step.state == "waiting" and all(self.run.steps[d].state == "succeeded" for d in spec.deps):
                    self._start(spec)
                    progressed = True
            if any(s.state == "failed" for s in self.run.steps.values()):
                break

    def _start(self, spec: Step[object]) -> None:
        step = self.run.steps[spec.name]
        step.state, step.started_at = "running", self.now
        self.changed.add(spec.name)
        try:
            fn = self.registry.get(spec.fn)
            calls = self._calls(spec, fn)
            meta = task_metadata(fn, self.queue_keys.get(fn.queue, ()))
            messages = [self._message(spec, fn, call, meta) for call in calls]
        except (InvalidWorkflow, FunctionNotFound) as exc:
            self._fail_step(spec.name, str(exc))
            return
        step.items_total = sum(call.count for call in calls)
        if not calls:
            step.state, step.output, step.progress, step.ended_at = "succeeded", [], 1.0, self.now
            return
        rows: list[TaskRow] = []
        for call, message in zip(calls, messages, strict=True):
            mid = task_id(self.run.id, spec.name, call.idx)
            self.enqueue[fn.queue].append(message)
            # a batch's items share its message
            rows += [TaskRow(self.run.id, spec.name, call.idx + j, mid, fn.queue) for j in range(call.count)]
        # rows now, so reports of these tasks (from a crashed earlier pass) can apply in this one
        self.store.insert_tasks(self.conn, rows)
        self.new_tasks += rows
        if spec.timeout_s is not None:
            self.timers.append((spec.name, spec.timeout_s))

    def _message(self, spec: Step[object], fn: Function, call: TaskSpec, meta: dict[str, str]) -> dq.NewMessage:
        """A task's message: the same bytes every time it is built (its enqueue is idempotent)."""
        return dq.NewMessage(
            payload=call.encode(),
            id=task_id(self.run.id, spec.name, call.idx),
            deadline=self.run.deadline,
            metadata={**meta, **exclusive_metadata(fn, call.args)},  # the exclusivity value, if any
            max_attempts=spec.max_attempts or fn.max_attempts,
        )

    # -- after a pass that may have died between its commit and its queue work -------------------
    def reissue(self) -> None:
        """Ask the queue again for what the committed rows say an earlier pass asked of it.

        A live run: the messages of its pending tasks (rebuilt from the rows and the definition,
        the same bytes as when first issued; the engine enqueues only those the queue lacks) and
        the timers of its running steps. A closed run: the cancel of its canceled tasks' messages.
        A pending task whose message cannot be built again (its function is gone, batches
        differently or has moved to another queue) fails its step.
        """
        if self.run.done:
            if self.run.state != "succeeded":
                rows = self.store.tasks(self.conn, self.run.id)
                self.cancel += sorted({(t.queue, t.message_id) for t in rows if t.state == "canceled"})
            return
        issued = {m.id for messages in self.enqueue.values() for m in messages}
        pending: dict[str, dict[str, str]] = defaultdict(dict)  # step -> message id -> queue (the row's)
        for t in self.store.open_tasks(self.conn, self.run.id):
            if t.state == "pending" and t.message_id not in issued:
                pending[t.step][t.message_id] = t.queue
        for name, ids in pending.items():
            spec = self.definition.steps.get(name)
            try:
                if spec is None:
                    raise InvalidWorkflow(f"the definition has no step {name!r} any more")
                fn = self.registry.get(spec.fn)
                if {fn.queue} != set(ids.values()):
                    raise InvalidWorkflow(f"function {fn.name!r} has moved to queue {fn.queue!r}")
                meta = task_metadata(fn, self.queue_keys.get(fn.queue, ()))
                built = {m.id: m for m in (self._message(spec, fn, c, meta) for c in self._calls(spec, fn))}
                lost = sorted(ids.keys() - built.keys())
                if lost:
                    raise InvalidWorkflow(f"task {lost[0]} cannot be made again (has the function's batch changed?)")
            except (InvalidWorkflow, FunctionNotFound) as exc:
                self._fail_step(name, f"reissuing its tasks: {exc}")
                continue
            self.reissued[fn.queue] += [built[i] for i in sorted(ids)]
        for name, step in self.run.steps.items():
            timeout = self.definition.steps[name].timeout_s if name in self.definition.steps else None
            if step.state == "running" and timeout is not None and step.started_at is not None:
                self.timers.append((name, max(0.0, step.started_at + timeout - self.now)))

    def _calls(self, spec: Step[object], fn: Function) -> list[TaskSpec]:
        """The step's task messages: one call, or one per map item, or per ``fn.batch`` items."""
        outputs = {n: s.output for n, s in self.run.steps.items() if s.state == "succeeded"}
        args = resolve(dict(spec.args), self.run.inputs, outputs)
        timeout = spec.timeout_s or fn.timeout_s
        if spec.kind == "task":
            return [TaskSpec(spec.fn, args, self.run.id, spec.name, 0, timeout)]
        assert spec.over is not None
        if spec.kind == "reduce":
            return [
                TaskSpec(
                    spec.fn, {**args, spec.results_arg: outputs[spec.over.source]}, self.run.id, spec.name, 0, timeout
                )
            ]
        over = resolve(spec.over, self.run.inputs, outputs)
        if not isinstance(over, list):
            raise InvalidWorkflow(f"map {spec.name!r}: {spec.over} is a {type(over).__name__}, not a list")
        if fn.batch == 1:
            return [
                TaskSpec(spec.fn, {**args, spec.item_arg: item}, self.run.id, spec.name, i, timeout)
                for i, item in enumerate(over)
            ]
        return [
            TaskSpec(spec.fn, args, self.run.id, spec.name, i, timeout, over[i : i + fn.batch], spec.item_arg)
            for i in range(0, len(over), fn.batch)
        ]

    # -- the end of a pass -----------------------------------------------------------------------
    def finish(self) -> None:
        steps = self.run.steps
        failed = [n for n, s in steps.items() if s.state == "failed"]
        if failed and not self.run.done:
            self._close("failed", f"step {failed[0]}: {steps[failed[0]].error}")
        elif steps and all(s.state == "succeeded" for s in steps.values()) and not self.run.done:
            outputs = {n: s.output for n, s in steps.items()}
            try:
                self.run.outputs = resolve(dict(self.definition.outputs), self.run.inputs, outputs)
                self.run.state, self.run.ended_at = "succeeded", self.now
            except InvalidWorkflow as exc:
                self.run.state, self.run.error, self.run.ended_at = "failed", f"outputs: {exc}", self.now
        self.run.progress = 1.0 if self.run.state == "succeeded" else _reached(list(steps.values()))

    def status_message(self) -> str:
        running = [(n, s) for n, s in self.run.steps.items() if s.state == "running"]
        if self.run.done:
            return self.run.error or self.run.state
        parts = [f"{n} {s.items_done}/{s.items_total}" if s.kind == "map" else n for n, s in running]
        return ("running " + ", ".join(parts))[:200] if parts else self.run.state
