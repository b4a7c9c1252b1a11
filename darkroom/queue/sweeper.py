"""Keep queues healthy between consumers: promote due delays, expire leases, purge old messages.

Dequeue already does the first two for the queue it touches, so a sweeper only matters for queues
nobody is polling, and for retention. Any number of processes may run one (``darkroom queue serve``
does): every sweep is one atomic script, so sweepers never conflict and none has to stay alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterable

from darkroom.queue.aio import AsyncRedisQueue
from darkroom.queue.client import RedisQueue
from darkroom.queue.errors import QueueNotFound, Unavailable
from darkroom.queue.models import SweepResult

__all__ = ["BlockingSweeper", "Sweeper", "next_sleep_s"]

_log = logging.getLogger(__name__)
# Floor on the sleep so a lease that expires "now" by the Redis clock but not yet by ours (clock
# skew between hosts) cannot turn the loop into a busy spin.
_MIN_SLEEP_S = 0.005


def next_sleep_s(results: Iterable[SweepResult], limit: int, interval_s: float, now: float) -> float:
    """Seconds until the next sweep: 0 when a sweep hit its ``limit`` (more work is waiting),
    else until the earliest scheduled event (``next_event_at``), at most ``interval_s``.

    Retention is not an event the scripts report, so purges run at least every ``interval_s``.
    """
    sleep = interval_s
    for r in results:
        if r.moved >= limit or r.purged >= limit:
            return 0.0
        if r.next_event_at is not None:
            # judge the event by the clock that scheduled it (Redis's), when the result says
            sleep = min(sleep, r.next_event_at - (now if r.now is None else r.now))
    return max(_MIN_SLEEP_S, sleep)


class Sweeper:
    """Sweeps every queue of one namespace in a loop on the running event loop."""

    def __init__(self, queue_client: AsyncRedisQueue, interval_s: float = 1.0, *, limit: int = 1000) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s {interval_s!r} must be positive")
        self.queue = queue_client
        self.interval_s = interval_s
        self.limit = limit
        self.sweeps = 0  # completed passes over all queues
        self.failures = 0  # passes that found Redis unreachable
        self._stop = asyncio.Event()

    async def sweep_once(self) -> list[SweepResult]:
        """Sweep every queue once; a queue deleted meanwhile is skipped."""
        results: list[SweepResult] = []
        for info in await self.queue.list_queues():
            with contextlib.suppress(QueueNotFound):
                results.append(await self.queue.sweep(info.name, limit=self.limit))
        self.sweeps += 1
        return results

    async def run(self) -> None:
        """Sweep until :meth:`stop` (even one called before ``run`` began); Redis outages are
        logged and retried every ``interval_s``."""
        while not self._stop.is_set():
            try:
                results = await self.sweep_once()
                sleep = next_sleep_s(results, self.limit, self.interval_s, time.time())
            except Unavailable as exc:
                self.failures += 1
                _log.warning("sweeper: %s; retrying in %gs", exc, self.interval_s)
                sleep = self.interval_s
            if sleep > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), sleep)

    def stop(self) -> None:
        """Ask :meth:`run` to return after the sweep in progress, if any."""
        self._stop.set()


class BlockingSweeper:
    """The same loop for threads and blocking programs, over a :class:`RedisQueue`."""

    def __init__(self, queue_client: RedisQueue, interval_s: float = 1.0, *, limit: int = 1000) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s {interval_s!r} must be positive")
        self.queue = queue_client
        self.interval_s = interval_s
        self.limit = limit
        self.sweeps = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> list[SweepResult]:
        results: list[SweepResult] = []
        for info in self.queue.list_queues():
            with contextlib.suppress(QueueNotFound):
                results.append(self.queue.sweep(info.name, limit=self.limit))
        self.sweeps += 1
        return results

    def run(self) -> None:
        """Sweep until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                sleep = next_sleep_s(self.sweep_once(), self.limit, self.interval_s, time.time())
            except Unavailable as exc:
                self.failures += 1
                _log.warning("sweeper: %s; retrying in %gs", exc, self.interval_s)
                sleep = self.interval_s
            if sleep > 0:
                self._stop.wait(sleep)

    def start(self) -> BlockingSweeper:
        """Run in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="darkroom-sweeper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
