"""A worker's settler: settles finished tasks in batches — workflow reports and their ticks
first, then one ``settle`` per queue — so a busy worker pays three round trips per batch, not per
task; with an :class:`~darkroom.runtime.advancer.Advancer` it also advances their runs."""

from __future__ import annotations

import logging
import math
import queue as stdqueue
import threading
import time

import darkroom.queue as dq
from darkroom.runtime import advancer, attempt, parking
from darkroom.runtime.advancer import Advancer
from darkroom.runtime.attempt import Finished
from darkroom.runtime.metrics import WorkerMetrics
from darkroom.runtime.parking import Parking
from darkroom.runtime.reporter import Reporter
from darkroom.runtime.slots import Slots

__all__ = ["Settler"]

_log = logging.getLogger(__name__)


class Settler:
    """Finished tasks arrive on ``done``; whoever holds ``lock`` settles (and advances) them: the
    settler thread (:meth:`run`), or a pool thread that finds it idle (``lock`` not held)."""

    def __init__(
        self,
        queue: dq.RedisQueue,
        reports: Reporter,
        worker: str,
        slots: Slots,
        parked: Parking,
        *,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.queue = queue
        self.reports = reports
        self.worker = worker
        self.slots = slots
        self.parked = parked
        self.metrics = metrics
        self.done: stdqueue.Queue[Finished] = stdqueue.Queue()
        self.lock = threading.Lock()  # one thread settles (and advances) at a time
        self.advancer: Advancer | None = None  # set when the worker advances its runs

    def run(self, quit_: threading.Event) -> None:
        """Settle until ``quit_`` is set and nothing is left, then give back every kept tick."""
        while not (quit_.is_set() and self.done.empty()):
            wait_s = advancer.HOLD_S / 2 if self._holding else 0.25
            try:
                batch = [self.done.get(timeout=parking.PARK_S if self.parked else wait_s)]
            except stdqueue.Empty:
                batch = []
            self.reports.flush_progress()
            with self.lock:
                self.settle_now(batch + self.drain() + self.parked.take(0.0 if batch else parking.PARK_S))
                if self.advancer is not None:
                    self.advancer.give_back(time.monotonic() - advancer.HOLD_S)
        with self.lock:
            self.settle_now(self.parked.take())
            if self.advancer is not None:
                self.advancer.give_back(math.inf)

    @property
    def _holding(self) -> bool:
        return self.advancer is not None and bool(self.advancer.held)

    def drain(self) -> list[Finished]:
        """Every finished task waiting on ``done`` now."""
        out = []
        while True:
            try:
                out.append(self.done.get_nowait())
            except stdqueue.Empty:
                return out

    def settle_now(self, batch: list[Finished]) -> None:
        """Settle ``batch`` (the caller holds ``lock``); a failure is logged, not raised."""
        if batch:
            try:
                self._settle(batch)
            except Exception:
                _log.exception("settling %d tasks failed; their leases will expire and they run again", len(batch))

    def _settle(self, batch: list[Finished]) -> None:
        todo = []
        with self.slots.lock:
            for d in batch:
                if not d.task.settled and not d.task.lost:
                    d.task.settled = True
                    todo.append(d)
                elif d.task.lost and self.metrics:
                    self.metrics.finished(d.task.fn_name, "canceled", time.monotonic() - d.task.started)
        reports, settles = attempt.conclude(todo, self.worker, self.metrics)
        # Reports first: a crash after them re-runs the task (idempotent) and repeats the report
        # (harmless); the other order could complete a task whose workflow never hears of it.
        if self.advancer is not None and self.advancer.advance(reports, settles):
            return
        if self.advancer is None:
            self.reports.post(reports)
        for chunk in settles:
            self.queue.settle(chunk)
