"""The queue's gRPC server: ``QueueService`` over an ``AsyncRedisQueue``, with health and reflection.

- Binds 127.0.0.1 by default, without ``SO_REUSEPORT``: an address in use is an
  :class:`~darkroom.api.errors.AddressUnavailable` naming it, never a second server sharing the
  port. TLS from a PEM certificate and key; per-client API keys checked in constant time by
  ``darkroom.api.auth`` (``authorization: Bearer <key>``). The health service stays open.
- :func:`serve` (``darkroom queue serve``, ``darkroom up``) requires a key unless
  ``DARKROOM_GRPC_AUTH=none``; ``QueueServer`` itself serves without one when given none.
- Errors map to statuses by the queue's table (``queue.statuses``) only; a malformed request body is
  INVALID_ARGUMENT, never INTERNAL.
- A :class:`darkroom.queue.sweeper.Sweeper` runs in the server unless ``sweep_interval_s`` is None.

>>> server = QueueServer(AsyncRedisQueue.from_url(url), "127.0.0.1:50051")   # doctest: +SKIP
>>> port = await server.start(); await server.wait()                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from darkroom.api.auth import ApiKeys, BearerAuth, load_api_keys, server_keys
from darkroom.api.errors import AddressUnavailable
from darkroom.api.grpc_telemetry import GrpcMetrics, GrpcTelemetry
from darkroom.api.transport import SERVER_OPTIONS, check_listen_address
from darkroom.config import ConfigError, Settings
from darkroom.queue.aio import AsyncRedisQueue
from darkroom.queue.grpc_client import DEFAULT_MAX_MESSAGE_BYTES
from darkroom.queue.grpc_service import SERVICE_NAME, QueueService
from darkroom.queue.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from darkroom.queue.sweeper import Sweeper  # optional at run time (see _start_sweeper)

__all__ = ["SERVICE_NAME", "QueueServer", "ServerThread", "load_api_keys", "serve"]

_log = logging.getLogger(__name__)


class QueueServer:
    """A grpc.aio server for one queue client. ``api_keys``: None (no auth), ``{name: key}`` or a
    list of keys (an empty one refuses everyone). ``tls_cert``/``tls_key``: PEM file paths."""

    def __init__(
        self,
        queue: AsyncRedisQueue,
        address: str = "127.0.0.1:0",
        api_keys: ApiKeys | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        *,
        sweep_interval_s: float | None = 1.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        extra_services: Sequence[Callable[[grpc.aio.Server], str]] = (),
        own_auth_services: Sequence[str] = (),
        grpc_metrics: GrpcMetrics | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ConfigError("TLS needs both a certificate and a key file")
        self.queue = queue
        self.address = address
        self.api_keys = api_keys
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.sweep_interval_s = sweep_interval_s
        self.max_message_bytes = max_message_bytes
        # Other services sharing this server and its port (e.g. Operations): each callable mounts
        # one on the grpc.aio server and returns its full service name (for health and reflection).
        self.extra_services = tuple(extra_services)
        # Of those, the ones that authenticate their callers themselves (people's tokens, not API
        # keys): the API-key check lets their calls through (darkroom.api.auth.BearerAuth).
        self.own_auth_services = tuple(own_auth_services)
        # every call of every service on this server, measured and given a request id (first, so the
        # API-key check is timed and logs with the id); None: calls still get their request id
        self.grpc_metrics = grpc_metrics
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None
        self._sweeper: Sweeper | None = None
        self._sweep_task: asyncio.Task[None] | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    async def start(self) -> int:
        """Bind, start serving, and return the bound port (useful with port 0).

        Raises :class:`AddressUnavailable` when the address is taken or malformed."""
        check_listen_address(self.address)
        options: list[tuple[str, int]] = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            *SERVER_OPTIONS,
        ]
        interceptors: list[grpc.aio.ServerInterceptor] = [GrpcTelemetry(self.grpc_metrics)]
        if self.api_keys is not None:
            interceptors.append(BearerAuth(self.api_keys, own_auth_services=self.own_auth_services))
        server = grpc.aio.server(interceptors=interceptors, options=options)
        server.add_generic_rpc_handlers((QueueService(self.queue).handler(),))
        services = [SERVICE_NAME, *(mount(server) for mount in self.extra_services)]
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection((*services, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        try:
            if self.tls_cert is not None and self.tls_key is not None:
                pair = (Path(self.tls_key).read_bytes(), Path(self.tls_cert).read_bytes())
                self.port = server.add_secure_port(self.address, grpc.ssl_server_credentials([pair]))
            else:
                self.port = server.add_insecure_port(self.address)
        except RuntimeError:  # grpc says only "Failed to bind"; the usual cause is another server
            self.port = 0
        if not self.port:
            raise AddressUnavailable(f"cannot listen on {self.address}: the address is in use or not this host's")
        self._warn_if_exposed()
        await server.start()
        self._server = server
        for name in ("", *services):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._start_sweeper()
        _log.info(
            "queue server on %s (port %d, tls=%s, auth=%s)", self.address, self.port, self.tls, bool(self.api_keys)
        )
        return self.port

    def _warn_if_exposed(self) -> None:
        host = self.address.rsplit(":", 1)[0].strip("[]")
        local = host in ("127.0.0.1", "::1", "localhost")
        if not local and not self.tls:
            _log.warning("queue server listens on %s without TLS", self.address)
        if self.api_keys is None and not self.address.startswith("unix:"):
            # loopback is no boundary: every user of this machine reaches it
            who = "every local user" if local else "anyone who reaches it"
            _log.warning("queue server listens on %s without API keys: %s can call it", self.address, who)

    def _start_sweeper(self) -> None:
        if self.sweep_interval_s is None:
            return
        try:
            from darkroom.queue.sweeper import Sweeper
        except ImportError:  # the sweeper module is optional
            return
        self._sweeper = Sweeper(self.queue, self.sweep_interval_s)
        self._sweep_task = asyncio.create_task(self._sweeper.run(), name="darkroom-sweeper")

    async def stop(self, grace: float | None = 1.0) -> None:
        """Refuse new calls, give running ones ``grace`` seconds, then cancel them."""
        if self._sweeper is not None:
            self._sweeper.stop()
        if self._sweep_task is not None:
            self._sweep_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweep_task
            self._sweep_task = None
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(grace)

    async def wait(self) -> None:
        """Block until the server has stopped."""
        if self._server is not None:
            await self._server.wait_for_termination()


async def serve(settings: Settings, queue: AsyncRedisQueue | None = None) -> None:
    """Run a queue server from ``settings`` (``DARKROOM_GRPC_ADDR``, ``_GRPC_TLS_CERT``/``_KEY``,
    ``_API_KEYS_FILE`` else the home's generated key, ``_GRPC_AUTH``, ``_REDIS_URL``) until cancelled."""
    keys = server_keys(settings)
    own = queue is None
    if queue is None:
        if not settings.redis_url:
            raise ConfigError("DARKROOM_REDIS_URL is empty: start redis (darkroom up) or pass a queue client")
        queue = AsyncRedisQueue.from_url(
            settings.redis_url, namespace=settings.namespace, limits=Limits.of(settings.limits)
        )
    server = QueueServer(queue, settings.grpc_addr, keys, settings.grpc_tls_cert or None, settings.grpc_tls_key or None)
    try:
        await server.start()
        await server.wait()
    finally:
        await server.stop()
        if own:
            await queue.close()


class _ServerOptions(TypedDict):
    """The :class:`QueueServer` arguments a :class:`ServerThread` passes on."""

    address: str
    api_keys: ApiKeys | None
    tls_cert: str | Path | None
    tls_key: str | Path | None
    sweep_interval_s: float | None
    extra_services: Sequence[Callable[[grpc.aio.Server], str]]
    own_auth_services: Sequence[str]
    grpc_metrics: GrpcMetrics | None


class ServerThread:
    """A :class:`QueueServer` on its own event loop in a background thread, for tests and scripts.

    >>> with ServerThread(redis_url) as srv:                     # doctest: +SKIP
    ...     q = GrpcQueue.from_url(srv.url)
    """

    def __init__(
        self,
        redis_url: str,
        *,
        namespace: str = "dr",
        limits: Limits = DEFAULT_LIMITS,
        address: str = "127.0.0.1:0",
        api_keys: ApiKeys | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        sweep_interval_s: float | None = None,
        extra_services: Sequence[Callable[[grpc.aio.Server], str]] = (),
        own_auth_services: Sequence[str] = (),
        grpc_metrics: GrpcMetrics | None = None,
    ) -> None:
        self._redis_url = redis_url
        self._namespace = namespace
        self._limits = limits
        self._options: _ServerOptions = {
            "address": address,
            "api_keys": api_keys,
            "tls_cert": tls_cert,
            "tls_key": tls_key,
            "sweep_interval_s": sweep_interval_s,
            "extra_services": extra_services,
            "own_auth_services": own_auth_services,
            "grpc_metrics": grpc_metrics,
        }
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        host = str(self._options["address"]).rsplit(":", 1)[0]
        return "127.0.0.1" if host in ("0.0.0.0", "[::]", "") else host

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        scheme = "grpcs" if self._options["tls_cert"] else "grpc"
        return f"{scheme}://{self.target}"

    def start(self, timeout_s: float = 30.0) -> ServerThread:
        self._thread = threading.Thread(target=self._main, name="darkroom-queue-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"queue server did not start within {timeout_s}s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        queue = AsyncRedisQueue.from_url(self._redis_url, namespace=self._namespace, limits=self._limits)
        server = QueueServer(queue, **self._options)
        try:
            self.port = await server.start()
            self._ready.set()
            await self._stopping.wait()
        finally:
            await server.stop(grace=0.5)
            await queue.close()
