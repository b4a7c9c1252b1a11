"""One look at the whole health: Redis's checks (``checks.py``) and the platform's
(``platform_checks.py``) from one sample, rates since the monitor's previous sample (the HTTP
edge's over its window), recorded in the bounded
:class:`~darkroom.observability.history.HealthHistory`; and the one-line summary ``darkroom up``
prints."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
import sqlalchemy as sa

from darkroom.observability.checks import Check, HealthReport, Status, check_health
from darkroom.observability.errors import RedisUnreachable
from darkroom.observability.history import HealthHistory
from darkroom.observability.http_window import HttpWindow
from darkroom.observability.platform_checks import OutboxAge, PlatformThresholds, platform_checks, read_signals
from darkroom.observability.redis_sample import RedisSample, RedisSampler
from darkroom.observability.rules import REACHABLE, UP
from darkroom.runtime.directory import WorkerDirectory

__all__ = ["HealthMonitor", "summary_line", "watch"]


@dataclass
class HealthMonitor:
    """What it can read decides what it judges: without ``workers``, ``database`` (the workflow
    store), ``http`` (the edge's counters) or ``outbox`` the checks reading them say so and pass. ``clock``
    (tests) stands for the wall clock and Redis's."""

    sampler: RedisSampler
    workers: WorkerDirectory | None = None
    history: HealthHistory | None = None
    database: sa.Engine | None = None
    http: HttpWindow | None = None
    outbox: OutboxAge | None = None
    thresholds: PlatformThresholds | None = None
    clock: Callable[[], float] | None = None
    _previous: RedisSample | None = None

    def observe(self) -> HealthReport:
        """Every check now (an unreachable Redis is one critical ``reachable`` check), recorded in
        the history when its slot is free."""
        try:
            sample = self.sampler.sample()
            prefix = self.sampler.layout.client_prefix if self.sampler.layout else "darkroom:"
            redis_report = check_health(sample, self._previous, client_prefix=prefix)
            now_s = self.clock() if self.clock is not None else None
            signals = read_signals(
                self.sampler, self.workers, database=self.database, http=self.http, outbox=self.outbox, now_s=now_s
            )
            checks = redis_report.checks + platform_checks(sample, signals, self.thresholds)
            self._previous = sample
        except RedisUnreachable as exc:
            return HealthReport((Check(REACHABLE, Status.CRITICAL, 0.0, UP, str(exc)),))
        report = HealthReport(checks)
        if self.history is not None:
            # a full or failing Redis is what the report says; the history waits
            with contextlib.suppress(redis.RedisError, OSError):
                self.history.record(self.clock() if self.clock is not None else time.time(), checks)

        return report

    def close(self) -> None:
        self.sampler.close()


def summary_line(report: HealthReport) -> str:
    """``health ok``, or ``health warn: memory, queue_lateness`` (the checks that are not ok, worst first)."""
    failing = sorted((c for c in report.checks if c.status is not Status.OK), key=lambda c: -c.status.rank)
    if not failing:
        return f"health {report.status.value}"
    return f"health {report.status.value}: " + ", ".join(f"{c.name} ({c.status.value})" for c in failing)


def watch(monitor: HealthMonitor, stop: threading.Event, emit: Callable[[str], None], *, every_s: float = 10.0) -> None:
    """Observe every ``every_s`` until ``stop``; ``emit`` the summary line at the first look and
    whenever it changes (a quiet platform prints one line)."""
    shown = ""
    while True:
        line = summary_line(monitor.observe())
        if line != shown:
            emit(line)
            shown = line
        if stop.wait(every_s):
            return
