"""Keeping the private redis-server up: one watch shared by ``darkroom up`` and ``darkroom queue serve``.

Its owner calls :meth:`RedisWatch.check` every poll. A server found dead is started again at once
(the same socket, password and data; the append-only file replays what was acknowledged), and
the clients reconnect by themselves. A restart that dies again within :data:`REDIS_STABLE_S`
counts as a failure; after ``max_restarts`` failures in a row (0.5, 1, 2, 4, 8 s apart),
``check`` raises :class:`~darkroom.local.errors.PlatformFailed` naming the home and its log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from darkroom.local.errors import PlatformFailed
from darkroom.local.redis_server import RedisServer, RedisServerError

__all__ = ["MAX_REDIS_RESTARTS", "REDIS_RESTART_TIMEOUT_S", "REDIS_STABLE_S", "RedisWatch"]

_log = logging.getLogger(__name__)

MAX_REDIS_RESTARTS = 5
REDIS_STABLE_S = 30.0  # a restarted redis-server that lives this long resets the count
REDIS_RESTART_TIMEOUT_S = 60.0  # replaying a large append-only file takes a while


@dataclass
class RedisWatch:
    """Restarts of one private redis-server (monotonic times); ``restarts`` counts the good ones."""

    server: RedisServer
    max_restarts: int = MAX_REDIS_RESTARTS
    started_at: float = field(default_factory=time.monotonic)
    failures: int = 0  # restarts in a row that did not stay up REDIS_STABLE_S, or failed
    next_start: float = 0.0
    noticed: bool = False
    restarts: int = 0
    last_error: str = ""

    def check(self, now: float) -> None:
        """Restart the server if it died (blocks while it starts); raise PlatformFailed past the limit."""
        redis = self.server
        if redis.running:
            self.noticed = False
            return
        if not self.noticed:
            self.noticed = True
            if now - self.started_at >= REDIS_STABLE_S:
                self.failures = 0
            _log.warning("the private redis-server (pid %s) died; restarting it", redis.pid)
        if now < self.next_start:
            return
        if self.failures >= self.max_restarts:
            raise PlatformFailed(
                f"the private redis-server under {redis.root} keeps dying: {self.failures} restarts in a "
                f"row did not stay up {REDIS_STABLE_S:g}s; see {redis.root / 'redis.log'}"
                + (f" (last error: {self.last_error})" if self.last_error else "")
            )
        self.failures += 1
        self.next_start = now + min(8.0, 0.25 * 2**self.failures)
        try:
            redis.start(timeout_s=REDIS_RESTART_TIMEOUT_S)
        except RedisServerError as exc:
            self.last_error = str(exc)
            _log.warning("restarting the private redis-server failed: %s", exc)
            return
        self.started_at = time.monotonic()
        self.restarts += 1
        self.noticed = False
        _log.warning("the private redis-server is back (pid %s, restart %d)", redis.pid, self.restarts)
