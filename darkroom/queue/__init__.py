"""Darkroom's priority queue: earliest-deadline-first, exclusive queues, leases with fencing.

>>> import darkroom.queue as dq
>>> q = dq.connect("redis://127.0.0.1:6379/0")     # or "grpc://host:port"

Every client implements :class:`Queue` (or :class:`AsyncQueue`); ``darkroom.queue.testing``
has :class:`~darkroom.queue.testing.MemoryQueue`, the same contract without Redis, for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from darkroom.queue.aio import AsyncRedisQueue
from darkroom.queue.client import RedisQueue
from darkroom.queue.errors import (
    Conflict,
    InvalidArgument,
    InvalidCriteria,
    InvalidMessage,
    InvalidNamespace,
    LeaseLost,
    MessageNotFound,
    PayloadTooLarge,
    QueueDamaged,
    QueueError,
    QueueNotFound,
    Unauthenticated,
    Unavailable,
    UnsupportedOption,
)
from darkroom.queue.keys import Keys
from darkroom.queue.limits import DEFAULT_LIMITS, Limits
from darkroom.queue.models import (
    Lease,
    Message,
    NewMessage,
    Outcome,
    Page,
    QueueInfo,
    QueueStats,
    Settled,
    Settlement,
    State,
    SweepResult,
)
from darkroom.queue.multi import Source
from darkroom.queue.observer import QueueObserver
from darkroom.queue.protocol import AsyncQueue, Queue

__all__ = [
    "DEFAULT_NAMESPACE",
    "AsyncQueue",
    "AsyncRedisQueue",
    "Conflict",
    "InvalidArgument",
    "InvalidCriteria",
    "InvalidMessage",
    "InvalidNamespace",
    "Lease",
    "LeaseLost",
    "Limits",
    "Message",
    "MessageNotFound",
    "NewMessage",
    "Outcome",
    "Page",
    "PayloadTooLarge",
    "Queue",
    "QueueDamaged",
    "QueueError",
    "QueueInfo",
    "QueueNotFound",
    "QueueStats",
    "RedisQueue",
    "Settled",
    "Settlement",
    "Source",
    "State",
    "SweepResult",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedOption",
    "connect",
    "connect_async",
]

DEFAULT_NAMESPACE = "dr"
_GRPC_SCHEMES = ("grpc://", "grpcs://")


def connect(
    url: str,
    *,
    namespace: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    observer: QueueObserver | None = None,
    api_key: str | None = None,
    root_cert: str | Path | bytes | None = None,
    server_name: str | None = None,
    timeout_s: float | None = None,
    max_message_bytes: int | None = None,
    insecure: bool = False,
) -> Queue:
    """A blocking client: ``redis://``, ``rediss://``, ``unix://`` talk to Redis directly,
    ``grpc://host:port`` (``grpcs://`` for TLS) to a queue server; the API is the same.

    ``limits`` apply to both. Redis only: ``namespace`` (default ``"dr"``; a server uses its
    own) and ``observer``. gRPC only: ``api_key``, ``root_cert``, ``server_name``,
    ``timeout_s``, ``max_message_bytes``, ``insecure`` (see ``GrpcQueue.from_url``). An option
    the URL's transport does not take is :class:`UnsupportedOption`, naming it."""
    grpc = _GrpcOptions(api_key, root_cert, server_name, timeout_s, max_message_bytes, insecure)
    if _is_grpc(url, namespace, observer):
        from darkroom.queue.grpc_client import GrpcQueue

        return GrpcQueue.from_url(url, limits=limits, **grpc.for_client())
    grpc.refuse(url)
    return RedisQueue.from_url(url, namespace=namespace or DEFAULT_NAMESPACE, limits=limits, observer=observer)


def connect_async(
    url: str,
    *,
    namespace: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    observer: QueueObserver | None = None,
    api_key: str | None = None,
    root_cert: str | Path | bytes | None = None,
    server_name: str | None = None,
    timeout_s: float | None = None,
    max_message_bytes: int | None = None,
    insecure: bool = False,
) -> AsyncQueue:
    """The asyncio twin of :func:`connect` (create it on the event loop that uses it)."""
    grpc = _GrpcOptions(api_key, root_cert, server_name, timeout_s, max_message_bytes, insecure)
    if _is_grpc(url, namespace, observer):
        from darkroom.queue.grpc_client import AsyncGrpcQueue

        return AsyncGrpcQueue.from_url(url, limits=limits, **grpc.for_client())
    grpc.refuse(url)
    return AsyncRedisQueue.from_url(url, namespace=namespace or DEFAULT_NAMESPACE, limits=limits, observer=observer)


def _is_grpc(url: str, namespace: str | None, observer: QueueObserver | None) -> bool:
    """Whether ``url`` names a queue server; refuses the options only Redis takes if it does."""
    if namespace is not None:
        Keys(namespace)  # a bad namespace is InvalidNamespace whatever the transport
    if not url.startswith(_GRPC_SCHEMES):
        return False
    scheme = url.split(":", 1)[0]
    if namespace is not None:
        raise UnsupportedOption(
            f"option namespace={namespace!r} does not apply to {scheme}://: a queue server uses its own namespace",
            field="namespace",
        )
    if observer is not None:
        raise UnsupportedOption(
            f"option observer does not apply to {scheme}://: observe the queue server instead", field="observer"
        )
    return True


@dataclass(frozen=True)
class _GrpcOptions:
    """The options only a gRPC queue server takes, carried together from ``connect`` and
    ``connect_async`` to the client, or refused for a Redis URL."""

    api_key: str | None
    root_cert: str | Path | bytes | None
    server_name: str | None
    timeout_s: float | None
    max_message_bytes: int | None
    insecure: bool

    def for_client(self) -> _GrpcClientOptions:
        from darkroom.queue.grpc_client import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT_S

        max_bytes = self.max_message_bytes
        return {
            "api_key": self.api_key,
            "root_cert": self.root_cert,
            "server_name": self.server_name,
            "timeout_s": DEFAULT_TIMEOUT_S if self.timeout_s is None else self.timeout_s,
            "max_message_bytes": DEFAULT_MAX_MESSAGE_BYTES if max_bytes is None else max_bytes,
            "insecure": self.insecure,
        }

    def refuse(self, url: str) -> None:
        """:class:`UnsupportedOption` naming the first option given (the URL is not gRPC)."""
        for option in ("api_key", "root_cert", "server_name", "timeout_s", "max_message_bytes", "insecure"):
            value = getattr(self, option)
            if value is not None and value is not False:
                scheme = url.split(":", 1)[0] if ":" in url else url[:20]
                raise UnsupportedOption(
                    f"option {option} is for a gRPC queue server (grpc:// or grpcs://), not {scheme}://", field=option
                )


class _GrpcClientOptions(TypedDict):
    api_key: str | None
    root_cert: str | Path | bytes | None
    server_name: str | None
    timeout_s: float
    max_message_bytes: int
    insecure: bool
