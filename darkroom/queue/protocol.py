"""The queue's public contract, written once: :class:`Queue` (blocking) and :class:`AsyncQueue`.

Every client implements one of them: ``RedisQueue``, ``GrpcQueue`` and ``testing.MemoryQueue``
implement :class:`Queue`; ``AsyncRedisQueue`` and ``AsyncGrpcQueue`` implement
:class:`AsyncQueue`. ``tests/queue/test_protocol.py`` checks that every client's methods take
the same parameters (names, kinds, defaults) as these, and the contract suite runs the same
tests against every client. A client may offer more (``RedisQueue.batch``, ``dequeue_any``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, Self, runtime_checkable

from darkroom.queue.models import (
    Lease,
    Message,
    NewMessage,
    Page,
    QueueInfo,
    QueueStats,
    Settled,
    Settlement,
    State,
    SweepResult,
)
from darkroom.unset import UNSET, Unset

__all__ = ["OPERATIONS", "AsyncQueue", "Queue"]

OPERATIONS = (
    "create_queue",
    "get_queue",
    "list_queues",
    "update_queue",
    "delete_queue",
    "pause",
    "resume",
    "enqueue",
    "enqueue_many",
    "dequeue",
    "extend",
    "complete",
    "complete_many",
    "fail",
    "settle",
    "cancel",
    "redrive",
    "update",
    "get",
    "query",
    "count",
    "stats",
    "sweep",
)
"""The operations of the contract (every method of :class:`Queue` but ``close``)."""


@runtime_checkable
class Queue(Protocol):
    """Every queue operation, blocking. Errors are ``darkroom.queue.errors`` types, naming the
    offending field; semantics: ``docs/queue.md``."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def create_queue(
        self,
        name: str,
        *,
        lease_s: float = 30.0,
        max_attempts: int = 3,
        retention_s: float = 7 * 86400.0,
        max_payload_bytes: int | None = None,
        exclusivity_key: str | None = None,
        exclusivity_limit: int = 1,
        indexed_keys: Sequence[str] = (),
        events_max: int = 10_000,
    ) -> QueueInfo:
        """Create a queue, or answer its settings when it exists with the same ones (Conflict otherwise)."""
        ...

    def get_queue(self, name: str) -> QueueInfo: ...

    def list_queues(self) -> list[QueueInfo]: ...

    def update_queue(
        self,
        name: str,
        *,
        lease_s: float | Unset = UNSET,
        max_attempts: int | Unset = UNSET,
        retention_s: float | Unset = UNSET,
        max_payload_bytes: int | Unset = UNSET,
        paused: bool | Unset = UNSET,
        events_max: int | Unset = UNSET,
    ) -> QueueInfo:
        """Change only the given settings; answers them all."""
        ...

    def delete_queue(self, name: str) -> bool:
        """Delete a queue and its messages; whether it existed."""
        ...

    def pause(self, queue: str) -> None:
        """Stop handing out messages (enqueue is still accepted)."""
        ...

    def resume(self, queue: str) -> None: ...

    def enqueue(
        self,
        queue: str,
        payload: bytes = b"",
        *,
        deadline: float | datetime | None = None,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
        delay_s: float = 0.0,
        max_attempts: int | None = None,
    ) -> str:
        """Enqueue one message and return its id (idempotent by ``id``)."""
        ...

    def enqueue_many(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        """Enqueue a batch, all or nothing; the ids in order."""
        ...

    def dequeue(
        self,
        queue: str,
        *,
        max_messages: int = 1,
        lease_s: float | None = None,
        where: Mapping[str, str] | None = None,
        wait_s: float = 0.0,
        fields: Iterable[str] | None = None,
    ) -> list[Lease]:
        """Lease up to ``max_messages``, earliest deadline first; ``wait_s``: wait for work."""
        ...

    def extend(self, lease: Lease, lease_s: float | None = None) -> Lease:
        """Extend a held lease (heartbeat); updates ``lease`` in place and answers it."""
        ...

    def complete(self, lease: Lease, result: bytes = b"") -> float:
        """Finish a leased message; returns its lateness (seconds past the deadline)."""
        ...

    def complete_many(self, leases: Sequence[Lease], results: Sequence[bytes] | None = None) -> list[bool]:
        """Finish leases of one queue in one round trip; False where a lease was lost."""
        ...

    def fail(self, lease: Lease, error: str = "", *, retry: bool = True, retry_in_s: float = 0.0) -> None:
        """Give a leased message back: retried while attempts remain (``retry``), else errored."""
        ...

    def settle(self, settlements: Sequence[Settlement]) -> list[Settled]:
        """Complete or fail leases of one queue in one round trip, one answer per settlement."""
        ...

    def cancel(self, queue: str, mid: str) -> bool:
        """Cancel an unfinished message; False when it was canceled already."""
        ...

    def redrive(self, queue: str, mid: str) -> None:
        """Send an errored message back to pending with its attempts reset."""
        ...

    def update(
        self,
        queue: str,
        mid: str,
        *,
        deadline: float | datetime | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
        payload: bytes | Unset | None = UNSET,
        delay_s: float | Unset | None = UNSET,
    ) -> None:
        """Change only the given fields of a pending or invisible message; ``None`` clears one."""
        ...

    def get(self, queue: str, mid: str, fields: Iterable[str] | None = None) -> Message: ...

    def query(
        self,
        queue: str,
        *,
        state: State | str | None = None,
        where: Mapping[str, str] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        fields: Iterable[str] | None = None,
    ) -> Page:
        """One page of messages, state by state, each in the order it is served."""
        ...

    def count(self, queue: str, state: State | str | None = None) -> int: ...

    def stats(self, queue: str) -> QueueStats: ...

    def sweep(self, queue: str, *, purge: bool = True, limit: int = 1000) -> SweepResult:
        """Promote due delays, expire leases and (``purge``) delete finished messages past retention."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncQueue(Protocol):
    """The asyncio twin of :class:`Queue`: the same operations as coroutines."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def create_queue(
        self,
        name: str,
        *,
        lease_s: float = 30.0,
        max_attempts: int = 3,
        retention_s: float = 7 * 86400.0,
        max_payload_bytes: int | None = None,
        exclusivity_key: str | None = None,
        exclusivity_limit: int = 1,
        indexed_keys: Sequence[str] = (),
        events_max: int = 10_000,
    ) -> QueueInfo:
        """Create a queue, or answer its settings when it exists with the same ones (Conflict otherwise)."""
        ...

    async def get_queue(self, name: str) -> QueueInfo: ...

    async def list_queues(self) -> list[QueueInfo]: ...

    async def update_queue(
        self,
        name: str,
        *,
        lease_s: float | Unset = UNSET,
        max_attempts: int | Unset = UNSET,
        retention_s: float | Unset = UNSET,
        max_payload_bytes: int | Unset = UNSET,
        paused: bool | Unset = UNSET,
        events_max: int | Unset = UNSET,
    ) -> QueueInfo:
        """Change only the given settings; answers them all."""
        ...

    async def delete_queue(self, name: str) -> bool:
        """Delete a queue and its messages; whether it existed."""
        ...

    async def pause(self, queue: str) -> None:
        """Stop handing out messages (enqueue is still accepted)."""
        ...

    async def resume(self, queue: str) -> None: ...

    async def enqueue(
        self,
        queue: str,
        payload: bytes = b"",
        *,
        deadline: float | datetime | None = None,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
        delay_s: float = 0.0,
        max_attempts: int | None = None,
    ) -> str:
        """Enqueue one message and return its id (idempotent by ``id``)."""
        ...

    async def enqueue_many(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        """Enqueue a batch, all or nothing; the ids in order."""
        ...

    async def dequeue(
        self,
        queue: str,
        *,
        max_messages: int = 1,
        lease_s: float | None = None,
        where: Mapping[str, str] | None = None,
        wait_s: float = 0.0,
        fields: Iterable[str] | None = None,
    ) -> list[Lease]:
        """Lease up to ``max_messages``, earliest deadline first; ``wait_s``: wait for work."""
        ...

    async def extend(self, lease: Lease, lease_s: float | None = None) -> Lease:
        """Extend a held lease (heartbeat); updates ``lease`` in place and answers it."""
        ...

    async def complete(self, lease: Lease, result: bytes = b"") -> float:
        """Finish a leased message; returns its lateness (seconds past the deadline)."""
        ...

    async def complete_many(self, leases: Sequence[Lease], results: Sequence[bytes] | None = None) -> list[bool]:
        """Finish leases of one queue in one round trip; False where a lease was lost."""
        ...

    async def fail(self, lease: Lease, error: str = "", *, retry: bool = True, retry_in_s: float = 0.0) -> None:
        """Give a leased message back: retried while attempts remain (``retry``), else errored."""
        ...

    async def settle(self, settlements: Sequence[Settlement]) -> list[Settled]:
        """Complete or fail leases of one queue in one round trip, one answer per settlement."""
        ...

    async def cancel(self, queue: str, mid: str) -> bool:
        """Cancel an unfinished message; False when it was canceled already."""
        ...

    async def redrive(self, queue: str, mid: str) -> None:
        """Send an errored message back to pending with its attempts reset."""
        ...

    async def update(
        self,
        queue: str,
        mid: str,
        *,
        deadline: float | datetime | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
        payload: bytes | Unset | None = UNSET,
        delay_s: float | Unset | None = UNSET,
    ) -> None:
        """Change only the given fields of a pending or invisible message; ``None`` clears one."""
        ...

    async def get(self, queue: str, mid: str, fields: Iterable[str] | None = None) -> Message: ...

    async def query(
        self,
        queue: str,
        *,
        state: State | str | None = None,
        where: Mapping[str, str] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        fields: Iterable[str] | None = None,
    ) -> Page:
        """One page of messages, state by state, each in the order it is served."""
        ...

    async def count(self, queue: str, state: State | str | None = None) -> int: ...

    async def stats(self, queue: str) -> QueueStats: ...

    async def sweep(self, queue: str, *, purge: bool = True, limit: int = 1000) -> SweepResult:
        """Promote due delays, expire leases and (``purge``) delete finished messages past retention."""
        ...

    async def close(self) -> None: ...
