"""Value types of the queue: states, messages, leases, queue settings, pages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "MESSAGE_FIELDS",
    "Lease",
    "Message",
    "NewMessage",
    "Outcome",
    "Page",
    "QueueInfo",
    "QueueStats",
    "Settled",
    "Settlement",
    "State",
    "SweepResult",
]


class State(enum.StrEnum):
    INVISIBLE = "invisible"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELED = "canceled"
    ERRORED = "errored"

    @property
    def terminal(self) -> bool:
        return self in (State.COMPLETED, State.CANCELED, State.ERRORED)


# Message fields that a read mask may name (``id`` and ``queue`` always come back).
MESSAGE_FIELDS = (
    "id",
    "queue",
    "payload",
    "metadata",
    "deadline",
    "state",
    "attempts",
    "max_attempts",
    "created_at",
    "updated_at",
    "visible_at",
    "lease_expires_at",
    "last_error",
    "result",
)


@dataclass(slots=True)
class Message:
    """A stored message. Fields left out of a read mask keep their zero value.

    Times are epoch seconds (floats, millisecond precision) taken from the Redis clock.
    """

    id: str
    queue: str
    payload: bytes = b""
    metadata: dict[str, str] = field(default_factory=dict)
    deadline: float = 0.0
    state: State | None = None
    attempts: int = 0
    max_attempts: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    visible_at: float | None = None
    lease_expires_at: float | None = None
    last_error: str | None = None
    result: bytes | None = None


@dataclass(slots=True)
class NewMessage:
    """One message of an ``enqueue_many`` batch."""

    payload: bytes = b""
    deadline: float | datetime | None = None
    metadata: dict[str, str] | None = None
    id: str | None = None
    delay_s: float = 0.0
    max_attempts: int | None = None


@dataclass(slots=True)
class Lease:
    """A time-bound claim on a running message; ``token`` fences out stale holders."""

    queue: str
    message: Message
    token: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class Settlement:
    """How one lease ends: completed with ``result``, or failed with ``error`` (not None) and
    then retried (``retry``, after ``retry_in_s``) while attempts remain, else errored."""

    lease: Lease
    result: bytes = b""
    error: str | None = None
    retry: bool = True
    retry_in_s: float = 0.0

    @classmethod
    def complete(cls, lease: Lease, result: bytes = b"") -> Settlement:
        return cls(lease, result=result)

    @classmethod
    def fail(cls, lease: Lease, error: str = "", *, retry: bool = True, retry_in_s: float = 0.0) -> Settlement:
        return cls(lease, error=error, retry=retry, retry_in_s=retry_in_s)

    @property
    def completes(self) -> bool:
        return self.error is None


class Outcome(enum.StrEnum):
    """What a settlement did: its message completed, failed (retried or errored), or nothing
    because the lease was no longer held."""

    COMPLETED = "completed"
    FAILED = "failed"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Settled:
    """The answer to one :class:`Settlement`; ``lateness_s`` (completion minus deadline) only
    for completions."""

    outcome: Outcome
    lateness_s: float | None = None


@dataclass(frozen=True, slots=True)
class QueueInfo:
    name: str
    lease_s: float
    max_attempts: int
    retention_s: float
    max_payload_bytes: int
    exclusivity_key: str | None = None
    exclusivity_limit: int = 1
    indexed_keys: tuple[str, ...] = ()
    paused: bool = False
    created_at: float = 0.0
    events_max: int = 10_000

    @property
    def exclusive(self) -> bool:
        return self.exclusivity_key is not None


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Message]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A point-in-time view of one queue, for dashboards and ``darkroom queue stats``."""

    queue: str
    counts: dict[State, int]
    running_per_value: dict[str, int]
    oldest_pending_deadline: float | None
    now: float

    @property
    def lateness_s(self) -> float:
        """How far past its deadline the most urgent pending message is (0 when on time)."""
        if self.oldest_pending_deadline is None:
            return 0.0
        return max(0.0, self.now - self.oldest_pending_deadline)


@dataclass(frozen=True, slots=True)
class SweepResult:
    moved: int
    purged: int
    next_event_at: float | None
    now: float | None = None  # the Redis clock when the sweep ran, to compare next_event_at with
