"""The queue over gRPC: ``GrpcQueue`` (blocking) and ``AsyncGrpcQueue`` (asyncio).

Both have the public API and return types of ``RedisQueue``, and raise the same typed errors
(rebuilt by ``darkroom.api.grpc_status`` from the queue's table, ``queue.statuses``). Like
``core.Core`` for Redis, ``Requests`` is written once without I/O: each method validates what the
wire cannot carry, builds the request and says how to read the reply; the two client classes only
send it. The model <-> proto mapping lives in ``wire``, shared with the server.

An API key travels in plaintext only to this machine (loopback, ``localhost``); to any other host
``from_url`` refuses (:class:`~darkroom.api.errors.InsecureTransport`) unless the URL is
``grpcs://`` or ``insecure=True`` says the network is trusted.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit

import grpc
import grpc.aio

from darkroom._proto.darkroom.queue.v1 import queue_pb2_grpc as pb_grpc
from darkroom.api.grpc_status import error_from_rpc
from darkroom.api.transport import channel_options, check_bearer_transport
from darkroom.queue.errors import InvalidArgument, Unavailable
from darkroom.queue.grpc_requests import Call, Requests
from darkroom.queue.limits import DEFAULT_LIMITS, Limits
from darkroom.queue.statuses import QUEUE_STATUSES

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_TIMEOUT_S",
    "AsyncGrpcQueue",
    "GrpcQueue",
]

P = ParamSpec("P")
R = TypeVar("R")

# A full enqueue batch (1000 messages of 1 MiB) does not fit; 64 MiB covers every default limit
# but the batch-times-payload extreme, which the server refuses with a typed error anyway.
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
DEFAULT_TIMEOUT_S = 30.0  # per call, beyond a long poll's own wait


# -- channels ------------------------------------------------------------------------------------
def _target(url: str) -> tuple[str, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("grpc", "grpcs") or not parts.netloc:
        raise InvalidArgument(f"queue server URL {url!r} must look like grpc://host:port or grpcs://host:port")
    return parts.netloc, parts.scheme == "grpcs"


def _credentials(root_cert: str | Path | bytes | None) -> grpc.ChannelCredentials:
    pem = root_cert if isinstance(root_cert, bytes) or root_cert is None else Path(root_cert).read_bytes()
    return grpc.ssl_channel_credentials(root_certificates=pem)


def _options(server_name: str | None, max_message_bytes: int) -> list[tuple[str, int | str]]:
    options: list[tuple[str, int | str]] = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return options


# -- the clients ---------------------------------------------------------------------------------
def _sync(build: Callable[Concatenate[Requests, P], Call[R]]) -> Callable[Concatenate[GrpcQueue, P], R]:
    def run(self: GrpcQueue, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(build(self._requests, *args, **kwargs))

    # the operation's own name, docstring and signature (inspect follows __wrapped__)
    functools.update_wrapper(run, build, assigned=("__name__", "__doc__"), updated=())
    return run


def _async(
    build: Callable[Concatenate[Requests, P], Call[R]],
) -> Callable[Concatenate[AsyncGrpcQueue, P], Coroutine[Any, Any, R]]:
    async def run(self: AsyncGrpcQueue, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._run(build(self._requests, *args, **kwargs))

    # the operation's own name, docstring and signature (inspect follows __wrapped__)
    functools.update_wrapper(run, build, assigned=("__name__", "__doc__"), updated=())
    return run


class _Base:
    def __init__(
        self,
        channel: grpc.Channel | grpc.aio.Channel,
        *,
        api_key: str | None,
        timeout_s: float,
        limits: Limits,
        target: str = "",
    ) -> None:
        self.channel = channel
        self.limits = limits
        self.timeout_s = timeout_s
        self.target = target
        self._stub = pb_grpc.QueueServiceStub(channel)
        self._requests = Requests(limits)
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {api_key}"),) if api_key else ()


class GrpcQueue(_Base):
    """Every queue operation through a queue server, over one blocking gRPC channel (thread-safe)."""

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        limits: Limits = DEFAULT_LIMITS,
        target: str = "",
    ) -> None:
        super().__init__(channel, api_key=api_key, timeout_s=timeout_s, limits=limits, target=target)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        api_key: str | None = None,
        root_cert: str | Path | bytes | None = None,
        server_name: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        limits: Limits = DEFAULT_LIMITS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        insecure: bool = False,
    ) -> GrpcQueue:
        """``grpc://host:port`` (plaintext) or ``grpcs://host:port`` (TLS; ``root_cert`` is a PEM
        file or its bytes, default the system roots; ``server_name`` overrides the name checked).
        ``insecure``: allow sending ``api_key`` in plaintext to another host."""
        target, tls = _target(url)
        check_bearer_transport(target, tls=tls, has_key=bool(api_key), insecure=insecure)
        options = _options(server_name, max_message_bytes) + channel_options(target)
        if tls:
            channel = grpc.secure_channel(target, _credentials(root_cert), options=options)
        else:
            channel = grpc.insecure_channel(target, options=options)
        return cls(channel, api_key=api_key, timeout_s=timeout_s, limits=limits, target=target)

    def _run(self, call: Call[R]) -> R:
        if call.method is None:
            return call.parse(None)
        rpc = getattr(self._stub, call.method)
        try:
            reply = rpc(call.request, timeout=self.timeout_s + call.extra_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, QUEUE_STATUSES) from exc
        return call.parse(reply)

    def check_reachable(self, within_s: float) -> None:
        """Raise :class:`Unavailable` unless the server answers the connection within ``within_s``.

        A refused connection returns at once (the next call fails fast with gRPC's own reason);
        this bounds the other case, a host or port that takes the connection and never speaks
        HTTP/2 (or drops packets), which a call would otherwise wait out to its full deadline."""
        settled = threading.Event()

        def seen(state: grpc.ChannelConnectivity) -> None:
            if state in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE):
                settled.set()

        self.channel.subscribe(seen, try_to_connect=True)
        try:
            if not settled.wait(within_s):
                raise Unavailable(f"the gRPC server at {self.target} did not answer within {within_s:g}s")
        finally:
            self.channel.unsubscribe(seen)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> GrpcQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    create_queue = _sync(Requests.create_queue)
    get_queue = _sync(Requests.get_queue)
    list_queues = _sync(Requests.list_queues)
    update_queue = _sync(Requests.update_queue)
    delete_queue = _sync(Requests.delete_queue)
    pause = _sync(Requests.pause)
    resume = _sync(Requests.resume)
    enqueue = _sync(Requests.enqueue)
    enqueue_many = _sync(Requests.enqueue_many)
    dequeue = _sync(Requests.dequeue)
    extend = _sync(Requests.extend)
    complete = _sync(Requests.complete)
    complete_many = _sync(Requests.complete_many)
    fail = _sync(Requests.fail)
    settle = _sync(Requests.settle)
    cancel = _sync(Requests.cancel)
    redrive = _sync(Requests.redrive)
    update = _sync(Requests.update)
    get = _sync(Requests.get)
    query = _sync(Requests.query)
    count = _sync(Requests.count)
    stats = _sync(Requests.stats)
    sweep = _sync(Requests.sweep)


class AsyncGrpcQueue(_Base):
    """The asyncio twin of :class:`GrpcQueue` (create it on the event loop that uses it)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        limits: Limits = DEFAULT_LIMITS,
        target: str = "",
    ) -> None:
        super().__init__(channel, api_key=api_key, timeout_s=timeout_s, limits=limits, target=target)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        api_key: str | None = None,
        root_cert: str | Path | bytes | None = None,
        server_name: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        limits: Limits = DEFAULT_LIMITS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        insecure: bool = False,
    ) -> AsyncGrpcQueue:
        """See :meth:`GrpcQueue.from_url`."""
        target, tls = _target(url)
        check_bearer_transport(target, tls=tls, has_key=bool(api_key), insecure=insecure)
        options = _options(server_name, max_message_bytes) + channel_options(target)
        if tls:
            channel = grpc.aio.secure_channel(target, _credentials(root_cert), options=options)
        else:
            channel = grpc.aio.insecure_channel(target, options=options)
        return cls(channel, api_key=api_key, timeout_s=timeout_s, limits=limits, target=target)

    async def _run(self, call: Call[R]) -> R:
        if call.method is None:
            return call.parse(None)
        rpc = getattr(self._stub, call.method)
        try:
            reply = await rpc(call.request, timeout=self.timeout_s + call.extra_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, QUEUE_STATUSES) from exc
        return call.parse(reply)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncGrpcQueue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    create_queue = _async(Requests.create_queue)
    get_queue = _async(Requests.get_queue)
    list_queues = _async(Requests.list_queues)
    update_queue = _async(Requests.update_queue)
    delete_queue = _async(Requests.delete_queue)
    pause = _async(Requests.pause)
    resume = _async(Requests.resume)
    enqueue = _async(Requests.enqueue)
    enqueue_many = _async(Requests.enqueue_many)
    dequeue = _async(Requests.dequeue)
    extend = _async(Requests.extend)
    complete = _async(Requests.complete)
    complete_many = _async(Requests.complete_many)
    fail = _async(Requests.fail)
    settle = _async(Requests.settle)
    cancel = _async(Requests.cancel)
    redrive = _async(Requests.redrive)
    update = _async(Requests.update)
    get = _async(Requests.get)
    query = _async(Requests.query)
    count = _async(Requests.count)
    stats = _async(Requests.stats)
    sweep = _async(Requests.sweep)
