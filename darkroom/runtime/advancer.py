"""A worker that advances the runs of the tasks it finished (``Worker(engine=...)``).

After a batch of tasks finishes, the worker posts their reports and advances their runs itself
rather than waiting for an engine to wake: under each run's tick lease on the exclusive events
queue (the engines' own guarantee), so an engine and a worker never pass one run at once. The
pass's enqueue round trip also takes the next tasks for the worker's free slots (the ``grab``
passed in, the worker's :class:`~darkroom.runtime.leaser.Leaser`) and when it took every task the
pass enqueued, the worker *keeps* the run's tick for the report
of the task it took: that report is then passed straight from memory, with no round trip before
the pass. docs/runtime.md, "Workers that advance their runs", has the protocol and why a crash at
any point loses nothing. Every method runs under the worker's settling lock (``Settler.lock``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import darkroom.queue as dq
from darkroom.queue.instructions import Op
from darkroom.runtime.attempt import settle_chunks
from darkroom.runtime.errors import RuntimeLayerError
from darkroom.runtime.reporter import Reporter
from darkroom.runtime.task import TaskSpec
from darkroom.runtime.workflow.engine import Engine
from darkroom.runtime.workflow.inbox import Inbox, Report
from darkroom.runtime.workflow.queue_work import Grab, Take

__all__ = ["HOLD_MIN_LEFT_S", "HOLD_S", "Advancer"]

_log = logging.getLogger(__name__)

HOLD_S = 0.2  # how long a worker keeps the tick of a run whose next task it took, waiting for its report
HOLD_MIN_LEFT_S = 2.0  # a kept tick is used only while its lease has this long left (no extension needed)


@dataclass
class _HeldTick:
    lease: dq.Lease
    acks: dict[str, bytes]  # inbox reports its last pass read, acknowledged with the next round trip
    since: float  # monotonic


class _Recorded:
    """A grab that notes the runs whose every new task it took: their next report is the
    worker's own, so the advancer keeps their ticks for it."""

    def __init__(self, grab: Grab) -> None:
        self.grab = grab
        self.asked = 0
        self.runs: set[str] = set()

    def wants(self, enqueued: Mapping[str, int]) -> dict[str, Take]:
        self.asked = sum(enqueued.values())
        return self.grab.wants(enqueued)

    def took(self, leases: list[dq.Lease]) -> None:
        self.grab.took(leases)
        if len(leases) == self.asked:  # every task the pass enqueued runs here: their runs' next report is ours
            self.runs = {run for run in map(_run_of, leases) if run}


def _run_of(lease: dq.Lease) -> str | None:
    try:
        return TaskSpec.decode(lease.message.payload).workflow_id
    except RuntimeLayerError:
        return None


class Advancer:
    """Advances the runs of a worker's finished tasks; ``grab`` takes the next tasks the passes
    enqueue for the worker's free slots (:class:`~darkroom.runtime.workflow.queue_work.Grab`)."""

    def __init__(self, queue: dq.RedisQueue, inbox: Inbox, reports: Reporter, engine: Engine, grab: Grab) -> None:
        self.queue = queue
        self.inbox = inbox
        self.reports = reports
        self.engine = engine
        self.held: dict[str, _HeldTick] = {}  # runs whose tick this worker keeps
        self._grab = _Recorded(grab)
        # settles of tasks whose pass committed under a kept tick, for the worker's next round trip
        self._deferred: list[list[dq.Settlement]] = []

    def advance(self, reports: list[Report], settles: list[list[dq.Settlement]]) -> bool:
        """Advance the runs of ``reports``, settling ``settles`` on the way. Answers False when
        the caller must still settle them (its reports are then written, so it may)."""
        final = {r.workflow_id for r in reports if r.tick}
        held = {w: self.held.pop(w) for w in final if w in self.held}
        if not held:
            return self._advance_claimed(reports, settles)
        # A kept tick serves only a run whose every report here ends a task, with time left on
        # its lease; the others are given back and their runs take the usual way.
        soon = time.time() + HOLD_MIN_LEFT_S
        not_final = {r.workflow_id for r in reports if not r.tick}
        unusable = {w: h for w, h in held.items() if w in not_final or h.lease.expires_at < soon}
        if unusable:
            self.held.update(unusable)
            self._give_back_runs(unusable)
            held = {w: h for w, h in held.items() if w not in unusable}
        if not held:
            return self._advance_claimed(reports, settles)
        mine = [r for r in reports if r.workflow_id in held]
        if len(mine) == len(reports):
            return self._advance_held(held, reports, settles)
        # A batch that mixes runs of kept ticks with others (a busy worker settles several tasks
        # at once): the kept ones first, from memory, then the others the usual way. Their settles
        # split likewise: a kept run's task is settled only after the pass that commits its
        # report (deferred from the first pass to the second's round trip), the others' only
        # after their reports are written.
        own: list[dq.Settlement] = []
        rest: list[dq.Settlement] = []
        for chunk in settles:
            for s in chunk:
                (own if _run_of(s.lease) in held else rest).append(s)
        self._advance_held(held, mine, settle_chunks(own))
        if not self._advance_claimed([r for r in reports if r.workflow_id not in held], settle_chunks(rest)):
            # settled as the caller would (their reports are written, or lost to Redis as there)
            self._deferred += settle_chunks(rest)
            self._give_back_runs(())  # no tick: one round trip for the deferred settles
        return True

    def _advance_claimed(self, reports: list[Report], settles: list[list[dq.Settlement]]) -> bool:
        """Write the reports; then tick, claim each run's tick and drain its inbox in one round
        trip; pass the runs whose claim was won, the settles riding in the pass's enqueue."""
        ticks = self.reports.write(reports)
        if not ticks:
            return False
        runs = [t.metadata["workflow"] for t in ticks if t.metadata]
        ops: list[Op[object]] = [self.queue.ops.enqueue_many(self.inbox.events_queue, ticks)]
        ops += self.inbox.claim_ops(runs)
        ops += [self.inbox.drain_op(w) for w in runs]
        try:
            posted, *rest = self.queue.batch(ops)
        except Exception:
            _log.warning("could not tick %d workflow(s)", len(ticks), exc_info=True)
            return False
        claims, drains = rest[: len(runs)], rest[len(runs) :]
        if isinstance(posted, dq.Conflict):
            self.inbox.enqueue_ticks(ticks)  # one by one: a tick of that generation exists already
        elif isinstance(posted, Exception):
            _log.warning("could not tick %d workflow(s): %s", len(ticks), posted)
        leases = [lease for claim in claims if isinstance(claim, list) for lease in claim]
        if not leases:
            return False
        won = {lease.message.metadata.get("workflow", "") for lease in leases}
        drained = {w: d for w, d in zip(runs, drains, strict=True) if w in won and isinstance(d, dict)}
        flush = self._take_deferred()
        self._grab.runs = set()
        try:
            outcome = self.engine.advance_leased(
                leases,
                drained=drained,
                also=[*self._settle_ops(flush), *self._settle_ops(settles)],
                retain=lambda w: w in self._grab.runs,
                grab=self._grab,
            )
        except Exception:
            _log.exception("advancing %d workflow(s) failed; engines retry once the leases expire", len(leases))
            self._deferred += flush
            return False
        if outcome.also is None:
            self._deferred += flush
            return False
        self._check(flush, outcome.also[: len(flush)])
        now = time.monotonic()
        for w, (lease, acks) in outcome.kept.items():
            self.held[w] = _HeldTick(lease, acks, now)
        return not any(isinstance(r, Exception) for r in outcome.also[len(flush) :])

    def _advance_held(
        self, held: dict[str, _HeldTick], reports: list[Report], settles: list[list[dq.Settlement]]
    ) -> bool:
        """Pass runs whose ticks this worker kept, their reports straight from memory.

        Nobody else can pass these runs meanwhile, and a report that another process writes
        ticks anew (a tick of a later generation, pending behind the kept one), so the reports
        need not go through the inbox first: the pass commits them. The pass's enqueue round trip
        acknowledges the last pass's inbox reads and counts what else the inbox holds; a run with
        such reports is given back after the pass, so that an engine passes them at once. The
        tasks' settles follow the commit (settled first, a task whose report was never stored
        could be lost): in the round trip after it when there is one, else with the worker's next
        round trip that is off the path from one step to the next (the give-back, or the settler's
        next turn).
        """
        runs = list(held)
        drained: dict[str, dict[str, bytes]] = {w: {} for w in runs}
        for r in reports:
            drained[r.workflow_id][r.field] = r.data
        acks = self.inbox.ack_ops({w: h.acks for w, h in held.items()})
        also = [*acks, *(self.inbox.size_op(w) for w in runs)]
        settles = self._take_deferred() + settles
        self._grab.runs = set()
        try:
            outcome = self.engine.advance_leased(
                [h.lease for h in held.values()],
                drained=drained,
                also=also,
                after=self._settle_ops(settles),
                retain=lambda w: w in self._grab.runs,
                from_memory=True,
                grab=self._grab,
            )
        except Exception:
            _log.exception("advancing %d workflow(s) failed; engines retry once the leases expire", len(runs))
            self.reports.post(reports)  # for the engine that repeats the pass
            self._deferred += settles
            return True
        results = outcome.also
        if results is None:  # did not run: the runs are given back below, their inboxes unread
            results = [RuntimeError("not run")] * len(also)
        if any(isinstance(r, Exception) for r in results[: len(acks)]):
            self.inbox.ack({w: h.acks for w, h in held.items()})  # a script the server lost
        sizes = results[len(acks) :]
        busy = {w for w, n in zip(runs, sizes, strict=True) if not isinstance(n, int) or n}
        if outcome.failed:
            self.reports.post([r for r in reports if r.workflow_id in outcome.failed])
        if outcome.after is None:
            self._deferred += settles
        else:
            self._check(settles, outcome.after)
        now = time.monotonic()
        for w, (lease, _) in outcome.kept.items():
            # the pass read its reports from memory: nothing of the inbox to acknowledge later
            self.held[w] = _HeldTick(lease, {}, now)
        if busy & outcome.kept.keys():
            self._give_back_runs(busy & outcome.kept.keys())
        return True

    def give_back(self, held_before: float) -> None:
        """Give back the ticks held since before ``held_before`` (monotonic), acknowledging what
        their last pass read, together with the deferred settles: one round trip."""
        self._give_back_runs([w for w, h in self.held.items() if h.since < held_before])

    def _give_back_runs(self, runs: Iterable[str]) -> None:
        stale = {w: self.held.pop(w) for w in list(runs) if w in self.held}
        self.engine.forget_rows(stale)
        flush = self._take_deferred()
        if not stale and not flush:
            return
        acks = {w: h.acks for w, h in stale.items()}
        ops = [*self.inbox.ack_ops(acks), *self._settle_ops(flush)]
        if stale:
            ops.append(self.queue.ops.complete_many([h.lease for h in stale.values()]))
        try:
            results = self.queue.batch(ops)
        except Exception:
            _log.warning("could not give back %d tick(s); their leases expire", len(stale), exc_info=True)
            self._deferred += flush
            return
        n_acks = len(ops) - len(flush) - (1 if stale else 0)
        if any(isinstance(r, Exception) for r in results[:n_acks]):
            self.inbox.ack(acks)
        self._check(flush, results[n_acks : n_acks + len(flush)])

    def _take_deferred(self) -> list[list[dq.Settlement]]:
        flush, self._deferred = self._deferred, []
        return flush

    def _settle_ops(self, chunks: list[list[dq.Settlement]]) -> list[Op[object]]:
        return [self.queue.ops.settle(chunk) for chunk in chunks]

    def _check(self, chunks: list[list[dq.Settlement]], results: list[object]) -> None:
        """Settle again, the plain way, the chunks whose batched settle failed (a script the
        server lost, say); a lost lease is not an error (its task runs again elsewhere)."""
        for chunk, result in zip(chunks, results, strict=False):
            if isinstance(result, Exception):
                try:
                    self.queue.settle(chunk)
                except Exception:
                    _log.warning("settling %d tasks failed; their leases will expire", len(chunk), exc_info=True)
