"""The queue without Redis, for tests: :class:`MemoryQueue` implements :class:`~darkroom.queue.Queue`.

Like Dramatiq's ``StubBroker``, it lets functions and workflows be unit-tested in one process:
the same operations, the same validation (``Limits``) and the same typed errors, answered from
dicts under one lock. Time comes from ``clock`` (epoch seconds); a :class:`ManualClock` lets a
test run leases and delays out at once instead of waiting for them. The queue's contract suite
(``tests/queue/``) runs against it beside the Redis and gRPC clients.

What it leaves out (Redis-only, so the contract suite does not run those tests against it): the
key schema and its damage handling, the event stream and counters, ``RedisQueue.batch``,
``dequeue_any`` and ``enqueue_lease``, and sharing a queue between processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from ulid import ULID

from darkroom.queue import codec
from darkroom.queue.admin import STATE_ORDER
from darkroom.queue.errors import (
    Conflict,
    InvalidArgument,
    InvalidCriteria,
    InvalidMessage,
    MessageNotFound,
    PayloadTooLarge,
    QueueNotFound,
)
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
from darkroom.unset import UNSET, Unset

__all__ = ["ManualClock", "MemoryQueue"]

_MAX_RETENTION_S = 10 * 366 * 86400.0
_FINISHED = (State.COMPLETED, State.CANCELED, State.ERRORED)


class ManualClock:
    """A clock that moves only when told: ``MemoryQueue(clock=ManualClock())``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(slots=True)
class _Msg:
    id: str
    seq: int
    payload: bytes
    metadata: dict[str, str]
    dl: int  # deadline, ms
    st: State
    max: int
    ca: int
    ua: int
    digest: tuple[bytes, str, int | None, int | None]  # what an idempotent enqueue compares
    att: int = 0
    va: int | None = None  # visible at, ms
    le: int | None = None  # lease expiry, ms
    ft: int | None = None  # finished at, ms
    tok: int | None = None
    err: str | None = None
    res: bytes | None = None


@dataclass(slots=True)
class _Queue:
    info: QueueInfo
    lease_ms: int
    retention_ms: int
    messages: dict[str, _Msg] = field(default_factory=dict)

    def score(self, m: _Msg) -> int:
        """Where ``m`` sits in its state's order (as the Redis sorted set of that state scores it)."""
        if m.st is State.PENDING:
            return m.dl
        if m.st is State.INVISIBLE:
            return m.va or 0
        if m.st is State.RUNNING:
            return m.le or 0
        return m.ft or 0

    def value(self, m: _Msg) -> str:
        return m.metadata.get(self.info.exclusivity_key or "", "")

    def running_per_value(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.info.exclusive:
            for m in self.messages.values():
                if m.st is State.RUNNING:
                    out[self.value(m)] = out.get(self.value(m), 0) + 1
        return out


class MemoryQueue:
    """Every queue operation in memory, thread-safe; see the module docstring for what differs."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self.clock = clock
        self._queues: dict[str, _Queue] = {}
        self._cond = threading.Condition()
        self._seq = 0
        self._fence = 0

    def close(self) -> None:
        return None

    def __enter__(self) -> MemoryQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------------
    def _now(self) -> int:
        return int(self.clock() * 1000)

    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            raise QueueNotFound(f"queue {name!r} does not exist", field="queue")
        return q

    def _msg(self, q: _Queue, mid: str) -> _Msg:
        m = q.messages.get(mid)
        if m is None:
            raise MessageNotFound(f"message {mid!r} not found in queue {q.info.name!r}", field="id")
        return m

    def _message(self, q: _Queue, m: _Msg, names: Sequence[str] = codec.read_fields(None)) -> Message:
        full = {
            "payload": m.payload,
            "metadata": dict(m.metadata),
            "deadline": m.dl / 1000.0,
            "state": m.st,
            "attempts": m.att,
            "max_attempts": m.max,
            "created_at": m.ca / 1000.0,
            "updated_at": m.ua / 1000.0,
            "visible_at": None if m.va is None else m.va / 1000.0,
            "lease_expires_at": None if m.le is None else m.le / 1000.0,
            "last_error": m.err,
            "result": m.res,
        }
        shown = {n: full[n] for n in names if full[n] is not None}
        return Message(id=m.id, queue=q.info.name, **shown)  # type: ignore[arg-type]

    def _finish(self, m: _Msg, state: State, now: int) -> None:
        m.st, m.ua, m.ft, m.le = state, now, now, None

    def _pending(self, m: _Msg, now: int) -> None:
        m.st, m.ua, m.va, m.le = State.PENDING, now, None, None

    def _requeue_or_error(self, m: _Msg, now: int, error: str, retry_in_ms: int) -> None:
        m.err = error
        if m.att < m.max:
            if retry_in_ms > 0:
                m.st, m.ua, m.va, m.le = State.INVISIBLE, now, now + retry_in_ms, None
            else:
                self._pending(m, now)
        else:
            self._finish(m, State.ERRORED, now)

    def _refresh(self, m: _Msg, now: int) -> bool:
        """Bring one message up to date with the clock; True when its lease just expired."""
        if m.st is State.RUNNING and m.le is not None and m.le <= now:
            self._requeue_or_error(m, now, "lease expired", 0)
            return True
        if m.st is State.INVISIBLE and m.va is not None and m.va <= now:
            self._pending(m, now)
        return False

    def _housekeep(self, q: _Queue, now: int, limit: int) -> int:
        due = [m for m in q.messages.values() if m.st is State.INVISIBLE and (m.va or 0) <= now]
        expired = [m for m in q.messages.values() if m.st is State.RUNNING and (m.le or 0) <= now]
        moved = 0
        for group in (due, expired):
            for m in sorted(group, key=lambda m: (q.score(m), m.seq))[:limit]:
                self._refresh(m, now)
                moved += 1
        return moved

    def _next_event_ms(self, q: _Queue) -> int | None:
        times = [q.score(m) for m in q.messages.values() if m.st in (State.INVISIBLE, State.RUNNING)]
        return min(times) if times else None

    # -- queues ----------------------------------------------------------------------------------
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
        lim = self.limits
        lim.queue_name(name)
        lease_ms = round(lim.lease_s(lease_s) * 1000)
        lim.attempts(max_attempts)
        retention_ms = round(lim.seconds(retention_s, "retention_s", 0.0, _MAX_RETENTION_S) * 1000)
        payload_cap = lim.max_payload_bytes if max_payload_bytes is None else max_payload_bytes
        lim.count(payload_cap, "max_payload_bytes", 0, lim.max_payload_bytes)
        if exclusivity_key is not None:
            lim.metadata_key(exclusivity_key, "exclusivity_key")
            lim.count(exclusivity_limit, "exclusivity_limit", 1, 1_000_000)
        if isinstance(indexed_keys, str):
            raise InvalidArgument("indexed_keys must be a sequence of keys, not a str", field="indexed_keys")
        ikeys = tuple(sorted({lim.metadata_key(k, "indexed_keys") for k in indexed_keys}))
        if len(ikeys) > lim.max_indexed_keys:
            raise InvalidArgument(
                f"indexed_keys has {len(ikeys)} keys; the limit is {lim.max_indexed_keys}", field="indexed_keys"
            )
        lim.count(events_max, "events_max", 1, 10_000_000)
        info = QueueInfo(
            name=name,
            lease_s=lease_ms / 1000.0,
            max_attempts=max_attempts,
            retention_s=retention_ms / 1000.0,
            max_payload_bytes=payload_cap,
            exclusivity_key=exclusivity_key or None,
            exclusivity_limit=exclusivity_limit if exclusivity_key else 1,
            indexed_keys=ikeys,
            created_at=self._now() / 1000.0,
            events_max=events_max,
        )
        with self._cond:
            old = self._queues.get(name)
            if old is None:
                self._queues[name] = _Queue(info, lease_ms, retention_ms)
                return info
            for setting, conf_name in _SETTINGS:
                if getattr(old.info, setting) != getattr(info, setting):
                    raise Conflict(f"queue {name} exists with a different {conf_name}")
            return old.info

    def get_queue(self, name: str) -> QueueInfo:
        self.limits.queue_name(name)
        with self._cond:
            return self._queue(name).info

    def list_queues(self) -> list[QueueInfo]:
        with self._cond:
            return [self._queues[n].info for n in sorted(self._queues)]

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
        lim = self.limits
        lim.queue_name(name)
        changes: dict[str, object] = {}
        lease_ms = retention_ms = None
        if not isinstance(lease_s, Unset):
            lease_ms = round(lim.lease_s(lease_s) * 1000)
            changes["lease_s"] = lease_ms / 1000.0
        if not isinstance(max_attempts, Unset):
            changes["max_attempts"] = lim.attempts(max_attempts)
        if not isinstance(retention_s, Unset):
            retention_ms = round(lim.seconds(retention_s, "retention_s", 0.0, _MAX_RETENTION_S) * 1000)
            changes["retention_s"] = retention_ms / 1000.0
        if not isinstance(max_payload_bytes, Unset):
            changes["max_payload_bytes"] = lim.count(max_payload_bytes, "max_payload_bytes", 0, lim.max_payload_bytes)
        if not isinstance(paused, Unset):
            if not isinstance(paused, bool):
                raise InvalidArgument(f"paused {paused!r} must be a bool", field="paused")
            changes["paused"] = paused
        if not isinstance(events_max, Unset):
            changes["events_max"] = lim.count(events_max, "events_max", 1, 10_000_000)
        with self._cond:
            q = self._queue(name)
            q.info = replace(q.info, **changes)  # type: ignore[arg-type]
            q.lease_ms = q.lease_ms if lease_ms is None else lease_ms
            q.retention_ms = q.retention_ms if retention_ms is None else retention_ms
            self._cond.notify_all()
            return q.info

    def delete_queue(self, name: str) -> bool:
        self.limits.queue_name(name)
        with self._cond:
            return self._queues.pop(name, None) is not None

    def pause(self, queue: str) -> None:
        """Stop handing out messages (enqueue is still accepted)."""
        self.update_queue(queue, paused=True)

    def resume(self, queue: str) -> None:
        self.update_queue(queue, paused=False)

    # -- enqueue ---------------------------------------------------------------------------------
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
        (mid,) = self.enqueue_many(queue, [NewMessage(payload, deadline, metadata, id, delay_s, max_attempts)])
        return mid

    def enqueue_many(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        lim = self.limits
        lim.queue_name(queue)
        lim.batch(len(messages), "messages")
        checked = []
        n_bytes = 0
        for i, msg in enumerate(messages):
            if not isinstance(msg, NewMessage):
                raise InvalidMessage(f"messages[{i}] must be a NewMessage, not {type(msg).__name__}", field="messages")
            mid = str(ULID()) if msg.id is None else lim.message_id(msg.id)
            payload = lim.payload(msg.payload)
            meta = lim.metadata(msg.metadata)
            n_bytes += len(payload) + codec.metadata_bytes(meta)
            deadline_ms = lim.deadline_ms(msg.deadline)
            delay_ms = round(lim.delay_s(msg.delay_s) * 1000)
            max_att = None if msg.max_attempts is None else lim.attempts(msg.max_attempts)
            checked.append((mid, payload, meta, deadline_ms, delay_ms, max_att))
        lim.batch_bytes(n_bytes, "messages")
        if not messages:
            return []
        with self._cond:
            q = self._queue(queue)
            now = self._now()
            seen: dict[str, tuple[bytes, str, int | None, int | None]] = {}
            fresh: list[_Msg] = []
            for mid, payload, meta, deadline_ms, delay_ms, max_att in checked:
                digest = (payload, codec.meta_json(meta), deadline_ms, max_att)
                stored = seen.get(mid) or (q.messages[mid].digest if mid in q.messages else None)
                if stored is not None:
                    if stored != digest:
                        raise Conflict(f"message {mid} exists in queue {queue} with different content")
                    continue
                if len(payload) > q.info.max_payload_bytes:
                    raise PayloadTooLarge(
                        f"payload of message {mid!r} is {len(payload)} bytes; the queue allows"
                        f" {q.info.max_payload_bytes}",
                        field="payload",
                    )
                self._check_value(q, mid, meta)
                self._seq += 1
                m = _Msg(
                    id=mid,
                    seq=self._seq,
                    payload=payload,
                    metadata=meta,
                    dl=now if deadline_ms is None else deadline_ms,
                    st=State.PENDING,
                    max=q.info.max_attempts if max_att is None else max_att,
                    ca=now,
                    ua=now,
                    digest=digest,
                )
                if delay_ms > 0:
                    m.st, m.va = State.INVISIBLE, now + delay_ms
                fresh.append(m)
                seen[mid] = digest
            for m in fresh:
                q.messages[m.id] = m
            self._cond.notify_all()
        return [c[0] for c in checked]

    def _check_value(self, q: _Queue, mid: str, meta: Mapping[str, str]) -> None:
        key = q.info.exclusivity_key
        if key is not None and not meta.get(key):
            raise InvalidMessage(f"message {mid} lacks exclusivity key {key} of queue {q.info.name}", field="metadata")

    # -- dequeue and leases ----------------------------------------------------------------------
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
        lim = self.limits
        lim.queue_name(queue)
        lim.count(max_messages, "max_messages", 1, lim.max_batch)
        lease_ms = None if lease_s is None else round(lim.lease_s(lease_s) * 1000)
        wait = lim.wait_s(wait_s)
        criteria = lim.metadata(where, "where")
        names = codec.read_fields(fields)
        give_up = time.monotonic() + wait
        with self._cond:
            while True:
                q = self._queue(queue)
                leases, next_ms, now = self._lease(q, max_messages, lease_ms, criteria, names)
                remaining = give_up - time.monotonic()
                if leases or remaining <= 0:
                    return leases
                if next_ms is not None:
                    remaining = min(remaining, max(0.001, (next_ms - now) / 1000.0))
                self._cond.wait(remaining)

    def _lease(
        self, q: _Queue, n: int, lease_ms: int | None, criteria: Mapping[str, str], names: Sequence[str]
    ) -> tuple[list[Lease], int | None, int]:
        for key in sorted(criteria):
            if key not in q.info.indexed_keys:
                indexed = ", ".join(q.info.indexed_keys) or "none"
                raise InvalidCriteria(
                    f"where key {key!r} is not indexed by queue {q.info.name!r} (indexed keys: {indexed})",
                    field="where",
                )
        now = self._now()
        self._housekeep(q, now, 1000)
        out: list[Lease] = []
        if q.info.paused:
            return out, self._next_event_ms(q), now
        le = now + (q.lease_ms if lease_ms is None else lease_ms)
        ready = sorted(
            (
                m
                for m in q.messages.values()
                if m.st is State.PENDING and all(m.metadata.get(k) == v for k, v in criteria.items())
            ),
            key=lambda m: (m.dl, m.seq),
        )
        running = q.running_per_value()
        for m in ready:
            if len(out) >= n:
                break
            if q.info.exclusive:
                if running.get(q.value(m), 0) >= q.info.exclusivity_limit:
                    continue
                running[q.value(m)] = running.get(q.value(m), 0) + 1
            self._fence += 1
            m.st, m.att, m.tok, m.le, m.ua, m.va = State.RUNNING, m.att + 1, self._fence, le, now, None
            out.append(Lease(q.info.name, self._message(q, m, names), self._fence, le / 1000.0))
        return out, self._next_event_ms(q), now

    def _held(self, q: _Queue, lease: Lease, now: int) -> _Msg | None:
        m = q.messages.get(lease.message.id)
        if m is None or m.st is not State.RUNNING or m.tok != lease.token or self._refresh(m, now):
            return None
        return m

    def extend(self, lease: Lease, lease_s: float | None = None) -> Lease:
        lim = self.limits
        codec.check_lease(lim, lease)
        seconds = lim.lease_s(lease_s) if lease_s is not None else None
        with self._cond:
            q = self._queue(lease.queue)
            self._msg(q, lease.message.id)
            now = self._now()
            m = self._held(q, lease, now)
            if m is None:
                raise codec.lease_lost(lease)
            m.le = now + (q.lease_ms if seconds is None else round(seconds * 1000))
            m.ua = now
            lease.expires_at = m.le / 1000.0
            lease.message.lease_expires_at = lease.expires_at
            return lease

    def settle(self, settlements: Sequence[Settlement]) -> list[Settled]:
        """Complete or fail leases of one queue in one call, one answer per settlement."""
        lim = self.limits
        if not settlements:
            return []
        lim.batch(len(settlements), "settlements")
        items: list[tuple[Settlement, bytes | str, int]] = []
        for i, item in enumerate(settlements):
            if not isinstance(item, Settlement):
                raise InvalidArgument(
                    f"settlements[{i}] must be a Settlement, not {type(item).__name__}", field="settlements"
                )
            lease = codec.check_lease(lim, item.lease)
            first = settlements[0].lease.queue
            if lease.queue != first:
                raise InvalidArgument(
                    f"leases of queues {first!r} and {lease.queue!r} cannot be settled in one call", field="lease"
                )
            retry_ms = round(lim.delay_s(item.retry_in_s, "retry_in_s") * 1000)
            if item.error is None:
                items.append((item, lim.payload(item.result, "result", lim.max_result_bytes), retry_ms))
            else:
                items.append((item, lim.text(item.error, "error", lim.max_error_chars), retry_ms))
        with self._cond:
            q = self._queue(settlements[0].lease.queue)
            now = self._now()
            out = [self._settle_one(q, item, data, retry_ms, now) for item, data, retry_ms in items]
            self._cond.notify_all()
            return out

    def _settle_one(self, q: _Queue, item: Settlement, data: bytes | str, retry_ms: int, now: int) -> Settled:
        lease = item.lease
        m = q.messages.get(lease.message.id)
        if m is not None and m.st is State.COMPLETED and m.tok == lease.token and item.error is None:
            return Settled(Outcome.COMPLETED, ((m.ft or now) - m.dl) / 1000.0)  # a retried completion
        m = self._held(q, lease, now)
        if m is None:
            return Settled(Outcome.LOST)
        if item.error is None and isinstance(data, bytes):
            self._finish(m, State.COMPLETED, now)
            m.res = data
            return Settled(Outcome.COMPLETED, (now - m.dl) / 1000.0)
        error = data if isinstance(data, str) else ""
        if item.retry:
            self._requeue_or_error(m, now, error, retry_ms)
        else:
            self._finish(m, State.ERRORED, now)
            m.err = error
        return Settled(Outcome.FAILED)

    def complete(self, lease: Lease, result: bytes = b"") -> float:
        """Finish a leased message; returns its lateness (seconds past the deadline)."""
        (settled,) = self.settle([Settlement.complete(lease, result)])
        if settled.outcome is Outcome.LOST:
            raise codec.lease_lost(lease)
        return settled.lateness_s or 0.0

    def complete_many(self, leases: Sequence[Lease], results: Sequence[bytes] | None = None) -> list[bool]:
        """Finish leases of one queue in one call; False where a lease was lost."""
        res = results if results is not None else [b""] * len(leases)
        if len(res) != len(leases):
            raise InvalidArgument(f"{len(res)} results for {len(leases)} leases", field="results")
        settled = self.settle([Settlement.complete(ls, r) for ls, r in zip(leases, res, strict=True)])
        return [s.outcome is not Outcome.LOST for s in settled]

    def fail(self, lease: Lease, error: str = "", *, retry: bool = True, retry_in_s: float = 0.0) -> None:
        """Give a leased message back: retried while attempts remain (``retry``), else errored."""
        (settled,) = self.settle([Settlement.fail(lease, error, retry=retry, retry_in_s=retry_in_s)])
        if settled.outcome is Outcome.LOST:
            raise codec.lease_lost(lease)

    # -- single messages -------------------------------------------------------------------------
    def _by_id(self, queue: str, mid: str) -> tuple[_Queue, _Msg]:
        self.limits.queue_name(queue)
        self.limits.message_id(mid)
        q = self._queue(queue)
        return q, self._msg(q, mid)

    def cancel(self, queue: str, mid: str) -> bool:
        with self._cond:
            _, m = self._by_id(queue, mid)
            now = self._now()
            self._refresh(m, now)
            if m.st is State.CANCELED:
                return False
            if m.st in _FINISHED:
                raise Conflict(
                    f"message {mid} in queue {queue} is {m.st.value}; only unfinished messages can be canceled"
                )
            self._finish(m, State.CANCELED, now)
            self._cond.notify_all()
            return True

    def redrive(self, queue: str, mid: str) -> None:
        with self._cond:
            _, m = self._by_id(queue, mid)
            if m.st is not State.ERRORED:
                raise Conflict(f"message {mid} in queue {queue} is {m.st.value}; only errored messages can be redriven")
            m.att, m.ft = 0, None
            self._pending(m, self._now())
            self._cond.notify_all()

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
        """Change only the given fields; ``None`` clears one (deadline: now, delay: none)."""
        lim = self.limits
        dl: int | Unset | None = UNSET
        meta: dict[str, str] | Unset = UNSET
        body: bytes | Unset = UNSET
        delay_ms: int | Unset | None = UNSET
        if not isinstance(deadline, Unset):
            dl = lim.deadline_ms(deadline)
        if not isinstance(metadata, Unset):
            meta = lim.metadata(metadata)
        if not isinstance(payload, Unset):
            body = lim.payload(b"" if payload is None else payload)
        if not isinstance(delay_s, Unset):
            delay_ms = None if delay_s is None else round(lim.delay_s(delay_s) * 1000)
        if all(isinstance(v, Unset) for v in (dl, meta, body, delay_ms)):
            raise InvalidArgument("update names no field to change", field="update_mask")
        with self._cond:
            q, m = self._by_id(queue, mid)
            if not isinstance(meta, Unset):
                self._check_value(q, mid, meta)
            if not isinstance(body, Unset) and len(body) > q.info.max_payload_bytes:
                raise PayloadTooLarge(
                    f"payload of message {mid!r} is {len(body)} bytes; the queue allows {q.info.max_payload_bytes}",
                    field="payload",
                )
            now = self._now()
            self._refresh(m, now)
            if m.st not in (State.PENDING, State.INVISIBLE):
                raise Conflict(
                    f"message {mid} in queue {queue} is {m.st.value}; only pending or invisible messages can be updated"
                )
            if not isinstance(dl, Unset):
                m.dl = now if dl is None else dl
            if not isinstance(meta, Unset):
                m.metadata = meta
            if not isinstance(body, Unset):
                m.payload = body
            va = m.va if m.st is State.INVISIBLE else None
            if not isinstance(delay_ms, Unset):
                va = now + delay_ms if delay_ms else None
            if va is not None:
                m.st, m.ua, m.va, m.le = State.INVISIBLE, now, va, None
            else:
                self._pending(m, now)
            self._cond.notify_all()

    def get(self, queue: str, mid: str, fields: Iterable[str] | None = None) -> Message:
        lim = self.limits
        lim.queue_name(queue)
        lim.message_id(mid)
        names = codec.read_fields(fields)
        with self._cond:
            q = self._queue(queue)
            return self._message(q, self._msg(q, mid), names)

    # -- reads over many messages ----------------------------------------------------------------
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
        lim = self.limits
        lim.queue_name(queue)
        lim.count(limit, "limit", 1, lim.max_batch)
        criteria = lim.metadata(where, "where")
        names = codec.read_fields(fields)
        states = STATE_ORDER if state is None else (codec.parse_state(state),)
        start, score, member = (states[0], "", "") if cursor is None else codec.decode_cursor(cursor)
        if start not in states:
            raise InvalidArgument(f"cursor belongs to state {start.value!r}, not this query", field="cursor")
        after = (float(score), member) if member else None
        with self._cond:
            q = self._queue(queue)
            out: list[tuple[State, _Msg]] = []
            for st in states[states.index(start) :]:
                rows = sorted((m for m in q.messages.values() if m.st is st), key=lambda m: (q.score(m), _member(m)))
                for m in rows:
                    if after is not None and (q.score(m), _member(m).decode()) <= after:
                        continue
                    if not all(m.metadata.get(k) == v for k, v in criteria.items()):
                        continue
                    if len(out) == limit:  # another page follows: after the last one shown, or this state
                        shown_st, shown = out[-1]
                        at = (str(q.score(shown)).encode(), _member(shown)) if shown_st is st else (b"", b"")
                        return Page([self._message(q, x, names) for _, x in out], codec.encode_cursor(st, *at))
                    out.append((st, m))
                after = None
            return Page([self._message(q, x, names) for _, x in out], None)

    def count(self, queue: str, state: State | str | None = None) -> int:
        self.limits.queue_name(queue)
        states = STATE_ORDER if state is None else (codec.parse_state(state),)
        with self._cond:
            return sum(1 for m in self._queue(queue).messages.values() if m.st in states)

    def stats(self, queue: str) -> QueueStats:
        self.limits.queue_name(queue)
        with self._cond:
            q = self._queue(queue)
            counts = dict.fromkeys(STATE_ORDER, 0)
            for m in q.messages.values():
                counts[m.st] += 1
            pending = [m for m in q.messages.values() if m.st is State.PENDING]
            head = min(pending, key=lambda m: (m.dl, m.seq)) if pending else None
            return QueueStats(
                queue=queue,
                counts=counts,
                running_per_value=q.running_per_value(),
                oldest_pending_deadline=None if head is None else head.dl / 1000.0,
                now=self.clock(),
            )

    def sweep(self, queue: str, *, purge: bool = True, limit: int = 1000) -> SweepResult:
        """Promote due delays, expire leases and (``purge``) delete finished messages past retention."""
        self.limits.queue_name(queue)
        self.limits.count(limit, "limit", 1, 100_000)
        with self._cond:
            q = self._queue(queue)
            now = self._now()
            moved = self._housekeep(q, now, limit)
            purged = 0
            if purge:
                before = now - q.retention_ms
                for st in _FINISHED:
                    old = sorted((m for m in q.messages.values() if m.st is st and (m.ft or 0) <= before), key=q.score)
                    for m in old[: limit - purged]:
                        del q.messages[m.id]
                        purged += 1
                    if purged >= limit:
                        break
            self._cond.notify_all()
            next_ms = self._next_event_ms(q)
            return SweepResult(moved, purged, None if next_ms is None else next_ms / 1000.0, now / 1000.0)


def _member(m: _Msg) -> bytes:
    return f"{m.seq:016x}{m.id}".encode()


# Settings a second create_queue must repeat, in the order (and by the names) a Conflict from the
# Redis queue reports them.
_SETTINGS = (
    ("exclusive", "kind"),
    ("exclusivity_key", "xkey"),
    ("exclusivity_limit", "xlimit"),
    ("lease_s", "lease_ms"),
    ("max_attempts", "max_att"),
    ("retention_s", "retention_ms"),
    ("max_payload_bytes", "max_payload"),
    ("indexed_keys", "ikeys_s"),
    ("events_max", "events_max"),
)


if TYPE_CHECKING:
    from darkroom.queue.protocol import Queue

    _conforms: Queue = MemoryQueue()  # mypy checks the class against the contract
