"""Darkroom's priority queue: earliest-deadline-first, exclusive queues, leases with fencing.

>>> import darkroom.queue as dq
>>> q = dq.connect("redis://127.0.0.1:6379/0")     # or "grpc://host:port"
"""

from __future__ import annotations

from typing import Any

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
)
from darkroom.queue.keys import Keys
from darkroom.queue.limits import DEFAULT_LIMITS, Limits
from darkroom.queue.models import Lease, Message, NewMessage, Page, QueueInfo, QueueStats, State, SweepResult
from darkroom.queue.multi import Source

__all__ = [
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
    "Page",
    "PayloadTooLarge",
    "QueueDamaged",
    "QueueError",
    "QueueInfo",
    "QueueNotFound",
    "QueueStats",
    "RedisQueue",
    "Source",
    "State",
    "SweepResult",
    "Unauthenticated",
    "Unavailable",
    "connect",
    "connect_async",
]


def connect(url: str, *, namespace: str = "dr", limits: Limits = DEFAULT_LIMITS, **options: Any) -> Any:
    """A blocking client: ``redis://``, ``rediss://``, ``unix://`` talk to Redis directly,
    ``grpc://host:port`` (``grpcs://`` for TLS) to a queue server; the API is the same.
    ``options`` go to the chosen client (``observer=`` for Redis, ``api_key=`` for gRPC…).
    A bad ``namespace`` is :class:`InvalidNamespace` for either (a server uses its own)."""
    Keys(namespace)
    if url.startswith(("grpc://", "grpcs://")):
        from darkroom.queue.grpc_client import GrpcQueue

        return GrpcQueue.from_url(url, **options)
    return RedisQueue.from_url(url, namespace=namespace, limits=limits, **options)


def connect_async(url: str, *, namespace: str = "dr", limits: Limits = DEFAULT_LIMITS, **options: Any) -> Any:
    """The asyncio twin of :func:`connect`."""
    Keys(namespace)
    if url.startswith(("grpc://", "grpcs://")):
        from darkroom.queue.grpc_client import AsyncGrpcQueue

        return AsyncGrpcQueue.from_url(url, **options)
    return AsyncRedisQueue.from_url(url, namespace=namespace, limits=limits, **options)
