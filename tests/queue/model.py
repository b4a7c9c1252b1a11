"""An in-memory reference model of one Darkroom queue, written from the contract alone.

It knows nothing of Redis: no clock, no indexes, no sorted sets. Every operation is a plain
scan over a dict of messages, so the model is easy to check by eye and the real queue is
compared against it step by step (``tests/queue/test_model.py``).

Time is left out on purpose. Deadlines are explicit numbers (they only order); a message left
without a deadline takes "now", which is later than every explicit deadline the tests use and
grows with the enqueue order, so it sorts after them in enqueue order. Delays are either none or
"long" (never due while a test runs). Lease expiry happens only when the test calls
:meth:`ModelQueue.expire`, after it has waited for the real lease to run out.

Errors are the queue package's own exception types, so a test compares ``type(exc)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from darkroom.queue import (
    Conflict,
    InvalidCriteria,
    InvalidMessage,
    LeaseLost,
    MessageNotFound,
    PayloadTooLarge,
    State,
)

__all__ = [
    "EXPIRED_ERROR",
    "KEEP",
    "LONG",
    "NOW",
    "Content",
    "Keep",
    "ModelMessage",
    "ModelQueue",
    "NewItem",
]

# What the queue writes into ``last_error`` when a lease runs out.
EXPIRED_ERROR: Final = "lease expired"
# A deadline of None means "due now": later than every explicit deadline of these tests.
NOW: Final = 10**15


class Keep:
    """Marker for "leave this field as it is" in :meth:`ModelQueue.update`."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = Keep()


class Long:
    """A delay long enough never to fall due while a test runs."""

    def __repr__(self) -> str:
        return "LONG"


LONG: Final = Long()

# payload, sorted metadata items, deadline ms (None = due now), max_attempts (None = queue default)
Content = tuple[bytes, tuple[tuple[str, str], ...], int | None, int | None]


@dataclass(frozen=True, slots=True)
class NewItem:
    """One message of an enqueue batch, as the model sees it."""

    id: str
    payload: bytes
    metadata: Mapping[str, str]
    deadline_ms: int | None
    delayed: bool = False
    max_attempts: int | None = None

    @property
    def content(self) -> Content:
        return (self.payload, tuple(sorted(self.metadata.items())), self.deadline_ms, self.max_attempts)


@dataclass(slots=True)
class ModelMessage:
    id: str
    seq: int
    content: Content  # as first enqueued: what idempotent enqueues compare against
    payload: bytes
    metadata: dict[str, str]
    deadline_ms: int | None  # None: "now" at enqueue
    state: State
    max_attempts: int
    attempts: int = 0
    token: int | None = None  # token of the last lease granted
    last_error: str | None = None
    result: bytes | None = None

    @property
    def order(self) -> tuple[int, int]:
        """Earliest deadline first, then enqueue order."""
        dl = NOW + self.seq if self.deadline_ms is None else self.deadline_ms
        return (dl, self.seq)


@dataclass(slots=True)
class ModelQueue:
    max_attempts: int = 3
    exclusivity_key: str | None = None
    exclusivity_limit: int = 1
    indexed_keys: tuple[str, ...] = ()
    max_payload_bytes: int = 1 << 20
    paused: bool = False
    messages: dict[str, ModelMessage] = field(default_factory=dict)
    _seq: int = 0
    skipped_at_limit: int = 0  # picks that passed over an earlier message whose value was at its limit

    # -- reads ----------------------------------------------------------------------------------
    @property
    def exclusive(self) -> bool:
        return self.exclusivity_key is not None

    def value_of(self, m: ModelMessage) -> str:
        assert self.exclusivity_key is not None
        return m.metadata[self.exclusivity_key]

    def running_per_value(self) -> dict[str, int]:
        if not self.exclusive:
            return {}
        return dict(Counter(self.value_of(m) for m in self.messages.values() if m.state is State.RUNNING))

    def counts(self) -> dict[State, int]:
        out = dict.fromkeys(State, 0)
        for m in self.messages.values():
            out[m.state] += 1
        return out

    def head(self) -> ModelMessage | None:
        """The pending message a plain dequeue would serve first (exclusivity aside)."""
        pending = [m for m in self.messages.values() if m.state is State.PENDING]
        return min(pending, key=lambda m: m.order) if pending else None

    def in_state(self, *states: State) -> list[str]:
        return sorted(mid for mid, m in self.messages.items() if m.state in states)

    def _get(self, mid: str) -> ModelMessage:
        m = self.messages.get(mid)
        if m is None:
            raise MessageNotFound(mid)
        return m

    def _lacks_value(self, metadata: Mapping[str, str]) -> bool:
        return self.exclusivity_key is not None and not metadata.get(self.exclusivity_key)

    # -- enqueue --------------------------------------------------------------------------------
    def refusals(self, batch: Sequence[NewItem]) -> set[type[Exception]]:
        """Every reason to refuse the batch (the queue may report any one of them)."""
        reasons: set[type[Exception]] = set()
        seen: dict[str, Content] = {m.id: m.content for m in self.messages.values()}
        for item in batch:
            if item.id in seen:
                if seen[item.id] != item.content:
                    reasons.add(Conflict)
                continue
            if len(item.payload) > self.max_payload_bytes:
                reasons.add(PayloadTooLarge)
                continue
            if self._lacks_value(item.metadata):
                reasons.add(InvalidMessage)
                continue
            seen[item.id] = item.content
        return reasons

    def enqueue_many(self, batch: Sequence[NewItem]) -> list[str]:
        """All or nothing; an id already known with the same content is answered, not re-added."""
        reasons = self.refusals(batch)
        if reasons:
            raise next(iter(reasons))(f"batch refused: {sorted(r.__name__ for r in reasons)}")
        for item in batch:
            if item.id in self.messages:
                continue
            self._seq += 1
            self.messages[item.id] = ModelMessage(
                id=item.id,
                seq=self._seq,
                content=item.content,
                payload=item.payload,
                metadata=dict(item.metadata),
                deadline_ms=item.deadline_ms,
                state=State.INVISIBLE if item.delayed else State.PENDING,
                max_attempts=self.max_attempts if item.max_attempts is None else item.max_attempts,
            )
        return [item.id for item in batch]

    # -- dequeue and leases -----------------------------------------------------------------------
    def dequeue(self, max_messages: int, where: Mapping[str, str] | None = None) -> list[str]:
        """Ids to serve, in order. The caller records each granted token with :meth:`granted`."""
        where = dict(where or {})
        unknown = [k for k in where if k not in self.indexed_keys]
        if unknown:
            raise InvalidCriteria(f"{unknown} not indexed")  # paused or not: the request is wrong
        if self.paused:
            return []
        served: list[str] = []
        for _ in range(max_messages):
            running = self.running_per_value()
            candidates = [
                m
                for m in self.messages.values()
                if m.state is State.PENDING
                and all(m.metadata.get(k) == v for k, v in where.items())
                and (not self.exclusive or running.get(self.value_of(m), 0) < self.exclusivity_limit)
            ]
            if not candidates:
                break
            m = min(candidates, key=lambda c: c.order)
            self.skipped_at_limit += any(
                c.state is State.PENDING and c.order < m.order and all(c.metadata.get(k) == v for k, v in where.items())
                for c in self.messages.values()
            )
            m.state = State.RUNNING
            m.attempts += 1
            m.token = None
            served.append(m.id)
        return served

    def granted(self, mid: str, token: int) -> None:
        m = self.messages[mid]
        assert m.state is State.RUNNING and m.token is None
        m.token = token

    def _held(self, mid: str, token: int) -> ModelMessage:
        m = self.messages.get(mid)
        if m is None or m.state is not State.RUNNING or m.token != token:
            raise LeaseLost(f"{mid}@{token}")
        return m

    def extend(self, mid: str, token: int) -> None:
        self._held(mid, token)

    def complete(self, mid: str, token: int, result: bytes) -> None:
        m = self.messages.get(mid)
        if m is not None and m.state is State.COMPLETED and m.token == token:
            return  # a retried completion by the holder that completed it: answered again, no change
        m = self._held(mid, token)
        m.state = State.COMPLETED
        m.result = result

    def complete_many(self, leases: Sequence[tuple[str, int, bytes]]) -> list[bool]:
        out: list[bool] = []
        for mid, token, result in leases:
            try:
                self.complete(mid, token, result)
            except LeaseLost:
                out.append(False)
            else:
                out.append(True)
        return out

    def fail(self, mid: str, token: int, error: str, *, retry: bool, later: bool) -> None:
        m = self._held(mid, token)
        self._retry_or_error(m, error, retry=retry, later=later)

    def _retry_or_error(self, m: ModelMessage, error: str, *, retry: bool, later: bool) -> None:
        m.last_error = error
        if retry and m.attempts < m.max_attempts:
            m.state = State.INVISIBLE if later else State.PENDING
        else:
            m.state = State.ERRORED

    def expire(self, mid: str) -> None:
        """The lease of a running message ran out (the test waited past it)."""
        m = self.messages[mid]
        assert m.state is State.RUNNING
        self._retry_or_error(m, EXPIRED_ERROR, retry=True, later=False)

    # -- single messages --------------------------------------------------------------------------
    def cancel(self, mid: str) -> bool:
        m = self._get(mid)
        if m.state is State.CANCELED:
            return False
        if m.state in (State.COMPLETED, State.ERRORED):
            raise Conflict(f"{mid} is {m.state}")
        m.state = State.CANCELED
        return True

    def redrive(self, mid: str) -> None:
        m = self._get(mid)
        if m.state is not State.ERRORED:
            raise Conflict(f"{mid} is {m.state}")
        m.state = State.PENDING
        m.attempts = 0

    def update(
        self,
        mid: str,
        *,
        deadline_ms: int | Keep = KEEP,
        metadata: Mapping[str, str] | Keep = KEEP,
        payload: bytes | Keep = KEEP,
        delay: Long | Keep | None = KEEP,
    ) -> set[type[Exception]]:
        """Apply an update, or return every reason to refuse it (the queue may report any one)."""
        m = self._get(mid)
        reasons: set[type[Exception]] = set()
        if m.state not in (State.PENDING, State.INVISIBLE):
            reasons.add(Conflict)
        if not isinstance(metadata, Keep) and self._lacks_value(metadata):
            reasons.add(InvalidMessage)
        if not isinstance(payload, Keep) and len(payload) > self.max_payload_bytes:
            reasons.add(PayloadTooLarge)
        if reasons:
            return reasons
        if not isinstance(deadline_ms, Keep):
            m.deadline_ms = deadline_ms
        if not isinstance(metadata, Keep):
            m.metadata = dict(metadata)
        if not isinstance(payload, Keep):
            m.payload = payload
        if delay is None:
            m.state = State.PENDING
        elif isinstance(delay, Long):
            m.state = State.INVISIBLE
        return reasons

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
