"""A worker's heartbeat: extends the leases of running tasks, enforces timeouts, stops tasks
whose lease was lost (cancel), and announces tasks that run long enough to be worth showing."""

from __future__ import annotations

import logging
import queue as stdqueue
import threading
import time
from collections.abc import Callable, Iterable

import darkroom.queue as dq
from darkroom.runtime.attempt import Attempt, Finished
from darkroom.runtime.metrics import WorkerMetrics
from darkroom.runtime.reporter import Reporter
from darkroom.runtime.slots import Slots

__all__ = ["ANNOUNCE_S", "Heartbeat"]

_log = logging.getLogger(__name__)

ANNOUNCE_S = 0.25  # a task running this long wakes its workflow's engine to show it as running


class Heartbeat:
    """Beats every ``tick_s`` over the tasks in ``slots``; a task past its timeout is put on
    ``done`` as timed out (the settler settles it). ``on_failure`` hears of every failed lease
    extension (the worker records it in its directory, for the platform's own check)."""

    def __init__(
        self,
        queue: dq.RedisQueue,
        slots: Slots,
        reports: Reporter,
        done: stdqueue.Queue[Finished],
        metrics: WorkerMetrics | None = None,
        *,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.slots = slots
        self.reports = reports
        self.done = done
        self.metrics = metrics
        self.on_failure = on_failure

    @staticmethod
    def tick_s(grants: Iterable[float]) -> float:
        """Often enough to extend the shortest first lease (``grants``) at a third of its time."""
        return min([0.5, *(g / 4 for g in grants)])

    def run(self, quit_: threading.Event, tick_s: float) -> None:
        while not quit_.wait(tick_s):
            self.beat()

    def beat(self) -> None:
        now = time.monotonic()
        for t in self.slots.tasks():
            if t.settled or t.lost or t.fn is None or t.ctx.cancel_event.is_set():
                continue
            timeout = t.timeout_s
            if t.fn.in_thread and now - t.started > timeout:
                # a thread cannot be killed: ask it to stop and fail the task now
                t.ctx.cancel_event.set()
                self.done.put(
                    Finished(t, False, error=f"task ran past its timeout of {timeout:g}s", outcome="timed_out")
                )
                continue
            if now - t.extended >= t.lease_s / 3:
                self.extend(t)
            if not t.announced and now - t.started >= ANNOUNCE_S:
                t.announced = True
                self.reports.post(
                    self.reports.started(t.spec, t.lease.message.deadline, t.lease.message.attempts, t.wall_started)
                )

    def extend(self, t: Attempt) -> None:
        if t.fn is None:
            return  # a task refused before it ran: settled at once, nothing to extend
        try:
            t.lease = self.queue.extend(t.lease, lease_s=t.fn.lease_s)
            t.extended, t.lease_s = time.monotonic(), t.fn.lease_s
        except (dq.LeaseLost, dq.MessageNotFound, dq.Conflict):
            # canceled (workflow cancel) or expired: whoever holds it now owns the work
            t.lost = True
            t.ctx.cancel_event.set()
            self._failed()
        except Exception:
            _log.warning("heartbeat for %s failed", t.lease.message.id, exc_info=True)
            self._failed()

    def _failed(self) -> None:
        if self.metrics:
            self.metrics.heartbeat_failures.inc()
        if self.on_failure is not None:
            try:
                self.on_failure()
            except Exception:  # Redis itself failing: the counter above still has it
                _log.debug("recording a heartbeat failure failed", exc_info=True)
