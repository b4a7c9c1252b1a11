"""The queue's gRPC server: ``QueueService`` over an ``AsyncRedisQueue``, with health and reflection.

- Binds 127.0.0.1 by default; TLS from a PEM certificate and key; per-client API keys checked
  in constant time by ``darkroom.api.auth`` (``authorization: Bearer <key>``). The health
  service stays open.
- Errors map to statuses in ``darkroom.api.grpc_status`` only; a malformed request body is
  INVALID_ARGUMENT, never INTERNAL.
- A :class:`darkroom.queue.sweeper.Sweeper` runs in the server unless ``sweep_interval_s`` is None.

>>> server = QueueServer(AsyncRedisQueue.from_url(url), "127.0.0.1:50051")   # doctest: +SKIP
>>> port = await server.start(); await server.wait()                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from darkroom._proto.darkroom.queue.v1 import queue_pb2 as pb
from darkroom.api import fieldmask
from darkroom.api.auth import ApiKeys, BearerAuth, load_api_keys
from darkroom.api.errors import InvalidFieldMask
from darkroom.api.grpc_requests import Malformed, lenient
from darkroom.api.grpc_status import abort
from darkroom.config import ConfigError, Settings
from darkroom.queue.aio import AsyncRedisQueue
from darkroom.queue.errors import InvalidArgument
from darkroom.queue.grpc_client import DEFAULT_MAX_MESSAGE_BYTES
from darkroom.queue.limits import DEFAULT_LIMITS, Limits
from darkroom.queue.models import Lease, Message, NewMessage
from darkroom.queue.wire import (
    lease_to_pb,
    message_to_pb,
    queue_to_pb,
    state_from_pb,
    stats_to_pb,
)

__all__ = ["SERVICE_NAME", "QueueServer", "ServerThread", "load_api_keys", "serve"]

_log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["QueueService"].full_name
_QUEUE_MUTABLE = ("lease_s", "max_attempts", "retention_s", "max_payload_bytes", "paused", "events_max")
_MESSAGE_MUTABLE = ("deadline", "metadata", "payload", "delay_s")
# A Conflict from these calls means "exists with other content", elsewhere "wrong state".
_EXISTS_ON_CONFLICT = {"CreateQueue", "Enqueue"}
_ALWAYS_READ = ("id", "queue")


# -- the service -----------------------------------------------------------------------------------
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _read_mask(mask: Any) -> fieldmask.Mask:
    return fieldmask.parse(mask, pb.Message.DESCRIPTOR, name="read_mask")


def _shown(message: Message, mask: fieldmask.Mask) -> pb.Message:
    """``message`` on the wire with only the masked fields (plus ``id`` and ``queue``)."""
    out = message_to_pb(message)
    return out if mask.selects_all else mask.union(*_ALWAYS_READ).project(out)


class QueueService:
    """The RPC implementations; each method is the snake_case name of its RPC."""

    def __init__(self, queue: AsyncRedisQueue) -> None:
        self.queue = queue

    def handler(self) -> Any:
        """A generic handler serving every RPC of ``QueueService``."""
        service = pb.DESCRIPTOR.services_by_name["QueueService"]
        handlers = {}
        for method in service.methods:
            request_cls = getattr(pb, method.input_type.name)
            response_cls = getattr(pb, method.output_type.name)
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                self._guarded(method.name, getattr(self, _snake(method.name))),
                request_deserializer=lenient(request_cls),
                response_serializer=response_cls.SerializeToString,
            )
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)

    @staticmethod
    def _guarded(name: str, impl: Callable[[Any], Awaitable[Any]]) -> Callable[[Any, Any], Awaitable[Any]]:
        conflict = (
            grpc.StatusCode.ALREADY_EXISTS if name in _EXISTS_ON_CONFLICT else grpc.StatusCode.FAILED_PRECONDITION
        )

        async def run(request: Any, context: Any) -> Any:
            if isinstance(request, Malformed):
                error = InvalidArgument(f"request body is not a valid {request.type_name}", field="request")
                await abort(context, error)
            try:
                return await impl(request)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort(context, exc, conflict=conflict)

        return run

    @staticmethod
    def _lease(ref: pb.LeaseRef) -> Lease:
        # the queue checks the names and the token before using them
        return Lease(queue=ref.queue, message=Message(id=ref.id, queue=ref.queue), token=ref.token, expires_at=0.0)

    async def _settle(self, items: list[tuple[Lease, bool, bytes | str, bool, float]]) -> pb.SettleResponse:
        out = pb.SettleResponse()
        for outcome in await self.queue.settle(items):
            o = out.outcomes.add(lost=outcome is None)
            if outcome is not None and not math.isnan(outcome):  # NaN: a failure, which has no lateness
                o.lateness_s = outcome
        return out

    # -- queues ---------------------------------------------------------------------------------
    async def create_queue(self, r: pb.CreateQueueRequest) -> pb.Queue:
        # absent settings keep create_queue's defaults
        kwargs: dict[str, Any] = {}
        for field in r.DESCRIPTOR.fields:
            if field.has_presence and r.HasField(field.name):  # type: ignore[arg-type]
                kwargs[field.name] = getattr(r, field.name)
        info = await self.queue.create_queue(r.name, indexed_keys=list(r.indexed_keys), **kwargs)
        return queue_to_pb(info)

    async def get_queue(self, r: pb.GetQueueRequest) -> pb.Queue:
        return queue_to_pb(await self.queue.get_queue(r.name))

    async def list_queues(self, r: pb.ListQueuesRequest) -> pb.ListQueuesResponse:
        return pb.ListQueuesResponse(queues=[queue_to_pb(i) for i in await self.queue.list_queues()])

    async def update_queue(self, r: pb.UpdateQueueRequest) -> pb.Queue:
        mask = fieldmask.parse(r.update_mask, pb.Queue.DESCRIPTOR, name="update_mask")
        paths = mask.update_paths(allowed=_QUEUE_MUTABLE)
        # a masked field absent from the body is "cleared": its zero value, which the queue validates
        kwargs = {p[0]: getattr(r.queue, p[0]) for p in paths}
        return queue_to_pb(await self.queue.update_queue(r.queue.name, **kwargs))

    async def delete_queue(self, r: pb.DeleteQueueRequest) -> pb.DeleteQueueResponse:
        return pb.DeleteQueueResponse(existed=await self.queue.delete_queue(r.name))

    # -- messages -------------------------------------------------------------------------------
    async def enqueue(self, r: pb.EnqueueRequest) -> pb.EnqueueResponse:
        batch = [
            NewMessage(
                payload=m.payload,
                deadline=m.deadline if m.HasField("deadline") else None,
                metadata=dict(m.metadata),
                id=m.id if m.HasField("id") else None,
                delay_s=m.delay_s,
                max_attempts=m.max_attempts if m.HasField("max_attempts") else None,
            )
            for m in r.messages
        ]
        return pb.EnqueueResponse(ids=await self.queue.enqueue_many(r.queue, batch))

    async def dequeue(self, r: pb.DequeueRequest) -> pb.DequeueResponse:
        mask = _read_mask(r.read_mask)
        leases = await self.queue.dequeue(
            r.queue,
            max_messages=r.max_messages if r.HasField("max_messages") else 1,
            lease_s=r.lease_s if r.HasField("lease_s") else None,
            where=dict(r.where),
            wait_s=r.wait_s,
            fields=mask.top_level_fields(),
        )
        return pb.DequeueResponse(leases=[lease_to_pb(ls, _shown(ls.message, mask)) for ls in leases])

    async def extend(self, r: pb.ExtendRequest) -> pb.ExtendResponse:
        lease = await self.queue.extend(self._lease(r.lease), r.lease_s if r.HasField("lease_s") else None)
        return pb.ExtendResponse(expires_at=lease.expires_at)

    async def complete(self, r: pb.CompleteRequest) -> pb.SettleResponse:
        return await self._settle([(self._lease(c.lease), True, c.result, False, 0.0) for c in r.completions])

    async def fail(self, r: pb.FailRequest) -> pb.SettleResponse:
        return await self._settle([(self._lease(f.lease), False, f.error, f.retry, f.retry_in_s) for f in r.failures])

    async def settle(self, r: pb.SettleRequest) -> pb.SettleResponse:
        items: list[tuple[Lease, bool, bytes | str, bool, float]] = []
        for i, s in enumerate(r.settlements):
            if s.HasField("complete"):
                items.append((self._lease(s.complete.lease), True, s.complete.result, False, 0.0))
            elif s.HasField("fail"):
                f = s.fail
                items.append((self._lease(f.lease), False, f.error, f.retry, f.retry_in_s))
            else:
                raise InvalidArgument(f"settlements[{i}] is neither complete nor fail", field="settlements")
        return await self._settle(items)

    async def cancel(self, r: pb.CancelRequest) -> pb.CancelResponse:
        return pb.CancelResponse(canceled=await self.queue.cancel(r.queue, r.id))

    async def redrive(self, r: pb.RedriveRequest) -> pb.RedriveResponse:
        await self.queue.redrive(r.queue, r.id)
        return pb.RedriveResponse()

    async def update_message(self, r: pb.UpdateMessageRequest) -> pb.UpdateMessageResponse:
        mask = fieldmask.parse(r.update_mask, pb.MessagePatch.DESCRIPTOR, name="update_mask")
        paths = mask.update_paths(allowed=_MESSAGE_MUTABLE)
        for path in paths:
            if len(path) > 1:
                # the queue rewrites metadata as a whole, atomically; a per-key merge would not be
                raise InvalidFieldMask(
                    f"update_mask path {fieldmask.format_path(path)!r}: only whole fields can be updated "
                    f"({', '.join(_MESSAGE_MUTABLE)})",
                    field="update_mask",
                )
        body = r.message
        values: dict[str, Any] = {
            "deadline": body.deadline if body.HasField("deadline") else None,
            "metadata": dict(body.metadata),
            "payload": body.payload,
            "delay_s": body.delay_s if body.HasField("delay_s") else None,
        }
        await self.queue.update(r.queue, r.id, **{p[0]: values[p[0]] for p in paths})
        return pb.UpdateMessageResponse()

    async def get_message(self, r: pb.GetMessageRequest) -> pb.Message:
        mask = _read_mask(r.read_mask)
        return _shown(await self.queue.get(r.queue, r.id, fields=mask.top_level_fields()), mask)

    async def query_messages(self, r: pb.QueryMessagesRequest) -> pb.QueryMessagesResponse:
        mask = _read_mask(r.read_mask)
        page = await self.queue.query(
            r.queue,
            state=state_from_pb(r.state),
            where=dict(r.where),
            limit=r.page_size if r.HasField("page_size") else 100,
            cursor=r.page_token or None,
            fields=mask.top_level_fields(),
        )
        return pb.QueryMessagesResponse(
            messages=[_shown(m, mask) for m in page.messages], next_page_token=page.next_cursor or ""
        )

    async def count_messages(self, r: pb.CountMessagesRequest) -> pb.CountMessagesResponse:
        return pb.CountMessagesResponse(count=await self.queue.count(r.queue, state_from_pb(r.state)))

    async def get_queue_stats(self, r: pb.GetQueueStatsRequest) -> pb.QueueStats:
        return stats_to_pb(await self.queue.stats(r.queue))

    async def sweep(self, r: pb.SweepRequest) -> pb.SweepResponse:
        result = await self.queue.sweep(
            r.queue,
            purge=r.purge if r.HasField("purge") else True,
            limit=r.limit if r.HasField("limit") else 1000,
        )
        out = pb.SweepResponse(moved=result.moved, purged=result.purged)
        if result.next_event_at is not None:
            out.next_event_at = result.next_event_at
        return out


# -- the server ------------------------------------------------------------------------------------
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
        extra_services: Sequence[Callable[[Any], str]] = (),
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
        self.port = 0
        self._server: Any = None
        self._health: Any = None
        self._sweeper: Any = None
        self._sweep_task: asyncio.Task[None] | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    async def start(self) -> int:
        """Bind, start serving, and return the bound port (useful with port 0)."""
        options = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
        ]
        interceptors = [] if self.api_keys is None else [BearerAuth(self.api_keys)]
        server = grpc.aio.server(interceptors=interceptors, options=options)
        server.add_generic_rpc_handlers((QueueService(self.queue).handler(),))
        services = [SERVICE_NAME, *(mount(server) for mount in self.extra_services)]
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection((*services, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        if self.tls_cert is not None and self.tls_key is not None:
            pair = (Path(self.tls_key).read_bytes(), Path(self.tls_cert).read_bytes())
            self.port = server.add_secure_port(self.address, grpc.ssl_server_credentials([pair]))
        else:
            self.port = server.add_insecure_port(self.address)
        if not self.port:
            raise OSError(f"cannot bind the queue server to {self.address}")
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
        if host not in ("127.0.0.1", "::1", "localhost"):
            if not self.tls:
                _log.warning("queue server listens on %s without TLS", self.address)
            if self.api_keys is None:
                _log.warning("queue server listens on %s without API keys", self.address)

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
    ``_API_KEYS_FILE``, ``_REDIS_URL``) until cancelled."""
    own = queue is None
    if queue is None:
        if not settings.redis_url:
            raise ConfigError("DARKROOM_REDIS_URL is empty: start redis (darkroom up) or pass a queue client")
        queue = AsyncRedisQueue.from_url(settings.redis_url, namespace=settings.namespace, limits=settings.limits)
    keys = load_api_keys(settings.api_keys_file) if settings.api_keys_file else None
    server = QueueServer(queue, settings.grpc_addr, keys, settings.grpc_tls_cert or None, settings.grpc_tls_key or None)
    try:
        await server.start()
        await server.wait()
    finally:
        await server.stop()
        if own:
            await queue.close()


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
    ) -> None:
        self._redis_url = redis_url
        self._namespace = namespace
        self._limits = limits
        self._options: dict[str, Any] = {
            "address": address,
            "api_keys": api_keys,
            "tls_cert": tls_cert,
            "tls_key": tls_key,
            "sweep_interval_s": sweep_interval_s,
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
