"""The queue service of one host: the gRPC queue server, a sweeper and ``/metrics`` over one Redis.

``darkroom queue serve`` runs it in the foreground; ``darkroom demo`` runs it in a background
thread (:class:`ServiceThread`). Without ``redis_url`` it starts (or attaches to) the private
redis-server under ``Settings.home`` and stops it again only if it started it; it then holds
the home's lock (:class:`~darkroom.local.home_lock.HomeLock`) unless its owner holds it already.
The gRPC server requires the home's API key (``darkroom.api.auth.server_keys``) unless
``DARKROOM_GRPC_AUTH=none``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis
import redis.asyncio as aredis
from prometheus_client import CollectorRegistry
from redis.backoff import NoBackoff
from redis.retry import Retry

from darkroom.config import Settings
from darkroom.local.home_lock import HomeLock
from darkroom.local.redis_server import RedisServer
from darkroom.observability import MetricsServer, RedisHealthCollector, RedisSampler, new_registry, serve_metrics
from darkroom.observability.platform_checks import WorkersCollector
from darkroom.observability.policy import eviction_warning
from darkroom.platform.health import client_name, key_layout
from darkroom.queue.aio import AsyncRedisQueue
from darkroom.queue.errors import Unavailable
from darkroom.queue.limits import Limits
from darkroom.queue.metrics import PrometheusObserver, QueueCollector
from darkroom.queue.sweeper import Sweeper
from darkroom.runtime.directory import WorkerDirectory

if TYPE_CHECKING:
    from grpc.aio import Server as GrpcServer  # the class's field ``grpc`` shadows the module

    from darkroom.queue.server import QueueServer

__all__ = ["QueueService", "ServiceThread"]

_log = logging.getLogger(__name__)


@dataclass
class QueueService:
    """Start with :meth:`start`, stop with :meth:`stop` (safe after a failed start).

    ``grpc_addr`` / ``metrics_port`` override the settings; ``metrics_port=None`` uses the
    settings' port, a negative one disables ``/metrics``, 0 picks a free port. ``grpc=False``
    runs only the sweeper and ``/metrics`` (a housekeeping process next to Redis). ``lock_home``:
    take the home's lock when using the private Redis (False when the caller holds it).
    ``api_key`` is the key clients on this machine send (None when auth is off).
    """

    settings: Settings
    grpc: bool = True
    grpc_addr: str | None = None
    metrics_port: int | None = None
    metrics_addr: str = "127.0.0.1"
    sweep_interval_s: float = 1.0
    extra_services: Sequence[Callable[[GrpcServer], str]] = ()  # mount a service on the grpc.aio server
    own_auth_services: Sequence[str] = ()  # of those, the ones checking people's tokens, not API keys
    lock_home: bool = True
    grpc_port: int = field(default=0, init=False)
    api_key: str | None = field(default=None, init=False, repr=False)
    redis_url: str = field(default="", init=False, repr=False)
    metrics: MetricsServer | None = field(default=None, init=False)
    # this process's series, made at start: a mounted service (the SocialService) adds its own here
    registry: CollectorRegistry | None = field(default=None, init=False)
    queue: AsyncRedisQueue | None = field(default=None, init=False, repr=False)
    _redis_server: RedisServer | None = field(default=None, init=False, repr=False)
    _lock: HomeLock | None = field(default=None, init=False, repr=False)
    _scrape_client: redis.Redis | None = field(default=None, init=False, repr=False)
    _health: RedisSampler | None = field(default=None, init=False, repr=False)
    _server: QueueServer | None = field(default=None, init=False, repr=False)
    _sweeper: Sweeper | None = field(default=None, init=False, repr=False)
    _sweep_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    @property
    def private_redis(self) -> bool:
        """True when this service uses the private redis-server under ``home``."""
        return not self.settings.redis_url

    @property
    def redis_server(self) -> RedisServer | None:
        """The private redis-server this service started or attached to (None with ``redis_url``)."""
        return self._redis_server

    @property
    def grpc_url(self) -> str | None:
        if not self.grpc:
            return None
        host = (self.grpc_addr or self.settings.grpc_addr).rsplit(":", 1)[0]
        if host in ("", "0.0.0.0", "[::]"):
            host = "127.0.0.1"  # a wildcard bind is reached through loopback from this host
        scheme = "grpcs" if self.settings.grpc_tls_cert else "grpc"
        return f"{scheme}://{host}:{self.grpc_port}"

    async def start(self) -> None:
        s = self.settings
        self.redis_url = s.redis_url
        if not self.redis_url:
            if self.lock_home:
                self._lock = HomeLock(s.home).acquire()
            self._redis_server = RedisServer(root=s.home, tcp_port=s.redis_tcp_port or None, appendfsync=s.redis_fsync)
            await asyncio.to_thread(self._redis_server.start)
            self.redis_url = self._redis_server.url
        registry = self.registry = new_registry()
        self.queue = AsyncRedisQueue(
            aredis.Redis.from_url(self.redis_url, client_name=client_name("queue")),
            namespace=s.namespace,
            limits=Limits.of(s.limits),
            observer=PrometheusObserver(registry),
        )
        try:
            await self.queue.redis.ping()  # fail at start, not at the first sweep
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError) as exc:
            raise Unavailable(f"redis is unreachable: {exc}") from exc
        # the collector runs in the scrape thread, so it gets its own blocking client; no
        # retries and a timeout keep a scrape short while Redis is away
        self._scrape_client = redis.Redis.from_url(
            self.redis_url, socket_timeout=5, retry=Retry(NoBackoff(), 0), client_name=client_name("metrics")
        )
        warning = await asyncio.to_thread(eviction_warning, self._scrape_client)
        if warning:
            _log.warning("%s", warning)
        registry.register(QueueCollector(self._scrape_client, namespace=s.namespace))
        # Redis health under redis_exporter's names; queue depth is QueueCollector's already
        self._health = RedisSampler.from_url(self.redis_url, layout=key_layout(s))
        registry.register(RedisHealthCollector(self._health, queue_depth=False))
        registry.register(WorkersCollector(WorkerDirectory(self._scrape_client, s.namespace)))
        if self.grpc:
            from darkroom.api.auth import LOCAL_KEY_NAME, server_keys
            from darkroom.api.grpc_telemetry import GrpcMetrics
            from darkroom.queue.server import QueueServer  # grpc is heavy: only when serving

            keys = server_keys(s)
            if keys is not None:
                # DARKROOM_API_KEY may be a key for another server: use it only if this one takes it
                local = keys.get(LOCAL_KEY_NAME) or next(iter(keys.values()))
                self.api_key = s.api_key if s.api_key in keys.values() else local
            self._server = QueueServer(
                self.queue,
                address=self.grpc_addr or s.grpc_addr,
                api_keys=keys,
                tls_cert=s.grpc_tls_cert or None,
                tls_key=s.grpc_tls_key or None,
                sweep_interval_s=None,  # this service runs the sweeper, with or without gRPC
                extra_services=self.extra_services,
                own_auth_services=self.own_auth_services,
                grpc_metrics=GrpcMetrics(registry),
            )
            self.grpc_port = await self._server.start()
        self._sweeper = Sweeper(self.queue, self.sweep_interval_s)
        self._sweep_task = asyncio.create_task(self._sweeper.run(), name="darkroom-sweeper")
        port = s.metrics_port if self.metrics_port is None else self.metrics_port
        if port >= 0:
            self.metrics = serve_metrics(registry, port, self.metrics_addr)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting calls, let running ones finish for ``grace_s``, then tear down."""
        if self._server is not None:
            await self._server.stop(grace_s)
            self._server = None
        if self._sweeper is not None and self._sweep_task is not None:
            self._sweeper.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sweep_task, grace_s)
            self._sweep_task = None
        if self.metrics is not None:
            await asyncio.to_thread(self.metrics.close)
            self.metrics = None
        if self.queue is not None:
            await self.queue.close()
            self.queue = None
        if self._scrape_client is not None:
            self._scrape_client.close()
            self._scrape_client = None
        if self._health is not None:
            self._health.close()
            self._health = None
        if self._redis_server is not None:
            await asyncio.to_thread(self._redis_server.stop)
            self._redis_server = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


class ServiceThread:
    """A :class:`QueueService` on its own event loop in a background thread."""

    def __init__(self, service: QueueService, *, start_timeout_s: float = 30.0) -> None:
        self.service = service
        self._timeout_s = start_timeout_s
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="darkroom-queue-service", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await self.service.start()
        except BaseException as exc:
            self._error = exc
            await self.service.stop(0)
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self.service.stop(2.0)

    def start(self) -> QueueService:
        self._thread.start()
        if not self._ready.wait(self._timeout_s):
            raise TimeoutError(f"the queue service did not start within {self._timeout_s:g}s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.service

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout_s)

    def __enter__(self) -> QueueService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
