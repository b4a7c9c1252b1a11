"""A worker's leaser: leases tasks for its free slots, by its own dequeue or in a pass's enqueue.

Its loop dequeues batches for the free slots from every queue the worker serves in one call,
earliest deadline first across them (``dequeue_any``; a long poll woken by any of them, so an
idle worker costs Redis nothing). It is also the worker's
:class:`~darkroom.runtime.workflow.queue_work.Grab`: when the worker advances a run, the pass's
enqueue takes the next tasks for the free slots in the same script call.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

import darkroom.queue as dq
from darkroom.runtime.functions import Registry
from darkroom.runtime.queues import worker_filters
from darkroom.runtime.slots import Slots
from darkroom.runtime.workflow.queue_work import Take

__all__ = ["Leaser"]

_log = logging.getLogger(__name__)


class Leaser:
    """Leases for ``slots`` from ``queues`` (with the filters of ``shape``), handing each batch
    won to ``start``."""

    def __init__(
        self,
        queue: dq.RedisQueue,
        slots: Slots,
        start: Callable[[list[dq.Lease]], None],
        *,
        queues: Sequence[str],
        shape: Mapping[str, str],
        wait_s: float = 1.0,
    ) -> None:
        self.queue = queue
        self.slots = slots
        self.start = start
        self.queues = list(queues)
        self.shape = shape
        self.wait_s = wait_s
        self.stopping = threading.Event()
        self.grant: dict[str, float] = {}  # first lease per queue (see prepare)
        self._sources: list[dq.Source] = []
        self._first_filter: dict[str, dict[str, str] | None] = {}

    def prepare(self, registry: Registry, keys: Mapping[str, tuple[str, ...]]) -> None:
        """Compute what to dequeue from: every (queue, filter) served, given the metadata keys
        each queue indexes (``keys``)."""
        sources = [(q, w) for q in self.queues for w in worker_filters(self.shape, keys.get(q, ()))]
        for q, w in reversed(sources):
            self._first_filter[q] = w
        # Lease as briefly as the quickest function of a queue needs; the heartbeat stretches the
        # lease to the function's own ``lease_s`` once the task is known.
        self.grant = {q: min(f.lease_s for f in registry if f.queue == q) for q in self.queues}
        # One dequeue over every (queue, filter) this worker serves: earliest deadline first across
        # them, and one wait for a wake-up of any of them (no empty queue is waited on in turn).
        self._sources = [dq.Source(q, w, self.grant[q]) for q, w in sources]

    def run(self, stop: threading.Event) -> None:
        """Lease until ``stop`` is set."""
        self.stopping = stop
        everywhere = self._sources
        while not stop.is_set():
            free = self.slots.free()
            if free <= 0:
                # short: a full worker notices ``stop`` at once too, and hands back what runs
                self.slots.wait_freed(0.05)
                continue
            try:
                if len(everywhere) == 1:
                    only = everywhere[0]
                    leases = self.queue.dequeue(
                        only.queue, max_messages=free, where=only.where, wait_s=self.wait_s, lease_s=only.lease_s
                    )
                else:
                    leases = self.queue.dequeue_any(everywhere, max_messages=free, wait_s=self.wait_s)
            except (dq.Unavailable, ConnectionError) as exc:
                _log.warning("dequeue from %s failed: %s", self.queues, exc)
                stop.wait(1.0)
                continue
            if leases:
                self.start(leases)

    # -- the Grab protocol: taking the tasks a pass of this worker enqueues -----------------------
    def wants(self, enqueued: Mapping[str, int]) -> dict[str, Take]:
        """This worker's free slots, spread over the queues a pass just enqueued to: taken in the
        enqueue's own script call, so the next step of a chain starts here without waking anyone."""
        if self.stopping.is_set():
            return {}
        free = self.slots.free()
        out = {}
        for queue, n in enqueued.items():
            if free <= 0 or queue not in self._first_filter:
                continue  # full, or a queue this worker does not serve
            take = min(free, n)
            out[queue] = Take(take, self._first_filter[queue], self.grant[queue])
            free -= take
        return out

    def took(self, leases: list[dq.Lease]) -> None:
        if leases:
            self.start(leases)
