"""``darkroom up``: the whole platform on one machine, supervised.

In this process: the private redis-server, the gRPC server (queue + operations, and the social
product's ``SocialService`` when it runs, which people call with their own tokens rather than the
home's API key), the sweeper and ``/metrics``. As child processes: engines and workers
(``darkroom engine`` / ``darkroom worker``), the social runner (``darkroom social run``), the
HTTP API (``darkroom http``, on ``settings.http_addr``) and analytics (the ingest ``darkroom
analytics ingest``, a worker for the jobs' queue, and the jobs' trigger loop ``darkroom analytics
scheduler``), restarted when they die. Stopping sends
SIGTERM to the children (workers finish or hand back their tasks), waits, then stops the services
and Redis.

- One platform per home (:class:`~darkroom.local.home_lock.HomeLock`); a second start refuses.
- Children stop when ``up`` is gone, however it went (SIGKILL included): each is told its
  supervisor's pid (:data:`~darkroom.platform.supervision.SUPERVISOR_PID_ENV`) and
  :func:`~darkroom.platform.supervision.stop_when_orphaned` stops it
  gracefully once its parent is another process; otherwise they would run on unseen, beside the
  ones the next ``up`` starts.
- The app is imported here once before any child starts: a bad ``--app`` is one
  :class:`AppUnavailable`, not children failing forever. A child that cannot load it anyway exits
  with :data:`~darkroom.platform.supervision.EXIT_APP_UNAVAILABLE` and ``supervise`` gives up
  with the child's last log line.
- A private redis-server that dies is started again by :class:`~darkroom.local.redis_watch.RedisWatch`
  (shared with ``darkroom queue serve``); after :data:`MAX_REDIS_RESTARTS` restarts in a row that
  did not stay up ``REDIS_STABLE_S``, ``supervise`` raises :class:`PlatformFailed`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from darkroom.api.secret import load_secret
from darkroom.api.transport import listen_tcp
from darkroom.config import Settings
from darkroom.local.errors import AppUnavailable, PlatformFailed
from darkroom.local.home_lock import HomeLock
from darkroom.local.queue_service import QueueService, ServiceThread
from darkroom.local.redis_server import running_url
from darkroom.local.redis_watch import MAX_REDIS_RESTARTS, REDIS_RESTART_TIMEOUT_S, REDIS_STABLE_S, RedisWatch
from darkroom.observability.registries import metrics_for
from darkroom.platform.supervision import EXIT_APP_UNAVAILABLE, SUPERVISOR_PID_ENV
from darkroom.platform.wiring import Wiring
from darkroom.runtime.operations_server import add_to_server
from darkroom.social import grpc_service as social_grpc
from darkroom.social.feed import FeedConfig
from darkroom.social.metrics import FeedMetrics

if TYPE_CHECKING:
    import grpc.aio

# the analytics jobs' registry (darkroom.analytics.workflows.APP; named here, not imported: the
# import would cost this process pyarrow and pyiceberg)
ANALYTICS_APP = "darkroom.analytics.workflows:registry"

__all__ = [
    "ANALYTICS_APP",
    "MAX_REDIS_RESTARTS",
    "REDIS_RESTART_TIMEOUT_S",
    "REDIS_STABLE_S",
    "Child",
    "LocalPlatform",
    "PlatformConfig",
]

_log = logging.getLogger(__name__)


@dataclass
class PlatformConfig:
    engines: int = 1
    workers: int = 2
    concurrency: int = 4
    app: str | None = None
    # ``/metrics`` ports: the service gets ``settings.metrics_port``, engines and workers the next
    # ones in turn; a negative port turns them all off, 0 lets each pick a free one.
    metrics: bool = True
    grace_s: float = 30.0
    # restarts of the private redis-server in a row that did not stay up REDIS_STABLE_S before
    # ``supervise`` gives up
    max_redis_restarts: int = MAX_REDIS_RESTARTS
    # the social product: its background runner and the HTTP API (on ``settings.http_addr``);
    # ``darkroom up`` turns it on, the media-only platforms (``darkroom process``, demos) do not
    social: bool = False
    # the analytics ingest (``darkroom analytics ingest``: the events stream into darkroom.events,
    # which it creates when missing); needs ``social`` (the relay it reads from). A child of its
    # own: pyarrow + pyiceberg cost it about 130 MB and 0.6 s to import (measured), which the social
    # runner is spared. ``darkroom up`` and the social demo turn it on.
    analytics: bool = False
    # with ``analytics``: the jobs' trigger loop (``darkroom analytics scheduler``), which starts each
    # job's workflow when its source has a new snapshot and on its interval. The jobs themselves run
    # as workflows whatever this says: the engines load their definitions and a worker of their own
    # (``analytics-1``) serves their queue, so only it and the engines import pyarrow + pyiceberg.
    # The social demo turns it off, so that its own runs are the ones that find the change.
    analytics_scheduler: bool = True


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0
    log_path: Path | None = None

    def start(self) -> None:
        self.started_at = time.monotonic()
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            if self.log_path:
                log.close()  # type: ignore[union-attr]

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def last_log_line(self) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""


@dataclass
class LocalPlatform:
    settings: Settings
    config: PlatformConfig = field(default_factory=PlatformConfig)
    children: list[Child] = field(default_factory=list)
    wiring: Wiring | None = None
    # the HTTP child's /metrics port as asked (-1: none; it may have fallen back to another)
    http_metrics_port: int = -1
    _service: ServiceThread | None = None
    _lock: HomeLock | None = None
    _redis: RedisWatch | None = None
    _boot: Wiring | None = None

    def start(self) -> Wiring:
        """Start everything, or raise (:class:`AlreadyRunning`, :class:`AppUnavailable`…) with
        whatever had started stopped again."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Wiring:
        s = self.settings
        self._lock = HomeLock(s.home).acquire()
        db_url = s.database_url or f"sqlite:///{(s.home / 'darkroom.db').resolve()}"
        # its operations cancel runs through the Redis this platform starts below (the private one
        # unless the settings name another)
        boot = Wiring(replace(s, database_url=db_url), self.config.app, private_redis=running_url)
        spec = self.config.app or s.app
        try:
            boot.registry  # noqa: B018 (imported once here, so a bad app fails before any child starts)
        except Exception as exc:  # the app is user code: any exception at import means it cannot load
            detail = str(exc) if spec in str(exc) else f"cannot load the app {spec!r}: {type(exc).__name__}: {exc}"
            raise AppUnavailable(detail) from None
        ops = boot.operations  # migrates the database before anything else touches it
        mounts: list[Callable[[grpc.aio.Server], str]] = [lambda server: add_to_server(server, ops)]
        if self.config.social:
            mounts.append(self._social_mount(boot))
        service = QueueService(
            s,
            metrics_port=s.metrics_port if self.config.metrics else -1,
            extra_services=mounts,
            # people call the SocialService with their own tokens; queue and operations need API keys
            own_auth_services=[social_grpc.SERVICE_NAME] if self.config.social else [],
            lock_home=False,  # this platform holds the lock
        )
        self._service = ServiceThread(service)
        self._service.start()
        if service.redis_server is not None:
            self._redis = RedisWatch(service.redis_server, self.config.max_redis_restarts)
        env = {
            **os.environ,
            "DARKROOM_REDIS_URL": service.redis_url,
            "DARKROOM_DATABASE_URL": db_url,
            "DARKROOM_HOME": str(s.home.resolve()),
            SUPERVISOR_PID_ENV: str(os.getpid()),
        }
        if self.config.app:
            env["DARKROOM_APP"] = self.config.app
        if not self.config.social:
            # no outbox relay runs here: the engines' run events would only pile up in the outbox
            env.setdefault("DARKROOM_RUN_EVENTS", "none")
        self.wiring = Wiring(Settings.from_env(env), self.config.app)
        port = s.metrics_port
        logs = s.home / "logs"
        logs.mkdir(exist_ok=True)
        kinds = [("engine", i) for i in range(self.config.engines)] + [
            ("worker", i) for i in range(self.config.workers)
        ]
        if self.config.social:
            # refuse a taken HTTP address here, in one line, rather than a child failing forever
            listen_tcp(s.http_addr).close()
        analytics = self.config.social and self.config.analytics
        for n, (kind, i) in enumerate(kinds, start=1):
            argv = [sys.executable, "-m", "darkroom.cli", kind, "--metrics-port", str(self._port(port, n))]
            if kind == "engine" and analytics:  # the engines advance the jobs' runs too
                argv += ["--app", f"{spec},{ANALYTICS_APP}"]
            if kind == "worker":
                # the workers of one machine share its cores: CPU-bound pool children split them
                processes = max(1, (os.cpu_count() or 1) // max(1, self.config.workers))
                argv += ["--concurrency", str(self.config.concurrency), "--processes", str(processes)]
            child = Child(f"{kind}-{i + 1}", argv, env, log_path=logs / f"{kind}-{i + 1}.log")
            child.start()
            self.children.append(child)
        if self.config.social:
            cli = [sys.executable, "-m", "darkroom.cli"]
            after = len(kinds)  # their /metrics ports follow the engines' and workers'
            self.http_metrics_port = self._port(port, after + 2)
            for name, argv in (
                ("social-1", [*cli, "social", "run", "--metrics-port", str(self._port(port, after + 1))]),
                (
                    "http-1",
                    [*cli, "http", "--http-addr", s.http_addr, "--metrics-port", str(self._port(port, after + 2))],
                ),
            ):
                child = Child(name, argv, env, log_path=logs / f"{name}.log")
                child.start()
                self.children.append(child)
            if analytics:
                worker = [*cli, "worker", "--app", ANALYTICS_APP, "--concurrency", "2"]
                worker += ["--metrics-port", str(self._port(port, after + 3))]
                named = [("ingest-1", [*cli, "analytics", "ingest"]), ("analytics-1", worker)]
                if self.config.analytics_scheduler:
                    named.append(("analytics-scheduler-1", [*cli, "analytics", "scheduler"]))
                for name, argv in named:
                    child = Child(name, argv, env, log_path=logs / f"{name}.log")
                    child.start()
                    self.children.append(child)
        return self.wiring

    def _social_mount(self, boot: Wiring) -> Callable[[grpc.aio.Server], str]:
        """Mounts the SocialService over ``boot``'s database and Redis (reached when the server
        starts, after the private redis-server has), with the home's server secret."""
        secret = load_secret(self.settings)
        self._boot = boot

        def mount(server: grpc.aio.Server) -> str:
            # mounted as the queue service starts, its registry made: the feed reads are timed there
            registry = self._service.service.registry if self._service is not None else None
            feed_metrics = metrics_for(registry, FeedMetrics) if registry is not None else None
            return social_grpc.add_to_server(
                server,
                social_grpc.SocialService(
                    boot.db,
                    boot.redis,
                    secret=secret,
                    feed_config=FeedConfig.from_settings(self.settings),
                    feed_metrics=feed_metrics,
                ),
            )

        return mount

    def _port(self, base: int, n: int) -> int:
        if not self.config.metrics or base < 0:
            return -1
        return 0 if base == 0 else base + n

    @property
    def grpc_url(self) -> str | None:
        return self._service.service.grpc_url if self._service else None

    @property
    def api_key(self) -> str | None:
        """The key a client on this machine sends to :attr:`grpc_url` (None when auth is off)."""
        return self._service.service.api_key if self._service else None

    @property
    def redis_restarts(self) -> int:
        return self._redis.restarts if self._redis else 0

    def supervise(self, stop: threading.Event, *, poll_s: float = 0.5) -> None:
        """Restart children that exit (exponential backoff up to 30 s) and the private
        redis-server, until ``stop`` is set. Raises :class:`PlatformFailed` when a child cannot
        load the app or Redis keeps dying."""
        while not stop.wait(poll_s):
            now = time.monotonic()
            if self._redis is not None:
                self._redis.check(now)
            for child in self.children:
                if child.alive:
                    if child.restarts and now - child.started_at > 60:
                        child.restarts = 0  # it has been well for a minute: back to quick restarts
                    continue
                if child.proc is not None and child.proc.returncode == EXIT_APP_UNAVAILABLE:
                    raise PlatformFailed(
                        f"{child.name} cannot load the app: {child.last_log_line()} (log {child.log_path})"
                    )
                if child.next_start == 0.0:
                    child.restarts += 1
                    child.next_start = now + min(30.0, 0.5 * 2 ** min(child.restarts, 6))
                    code = child.proc.returncode if child.proc else None
                    _log.warning("%s exited with %s; restarting", child.name, code)
                elif now >= child.next_start:
                    child.start()
                    child.next_start = 0.0

    def stop(self) -> None:
        for child in self.children:
            if child.alive and child.proc is not None:
                child.proc.send_signal(signal.SIGTERM)
        give_up = time.monotonic() + self.config.grace_s + 5
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, give_up - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        if self.wiring is not None:
            self.wiring.close()
        if self._service is not None:
            self._service.stop()
            self._service = None
        if self._boot is not None:  # after the server: its SocialService used the boot wiring's clients
            self._boot.close()
            self._boot = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
