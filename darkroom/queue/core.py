"""The queue's operations, written once without I/O.

Each operation is a generator: it validates the request, yields *instructions* (run a Lua
script, run a pipeline of commands, wait for a wake-up) and turns the replies into models.
``client.RedisQueue`` drives these generators with blocking redis-py, ``aio.AsyncRedisQueue``
with asyncio, so the sync and async clients cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from ulid import ULID

from darkroom.queue import codec
from darkroom.queue.admin import STATE_ORDER, QueueOps
from darkroom.queue.calls import (
    Cancel,
    Dequeue,
    Enqueue,
    EnqueueItem,
    Extend,
    Query,
    Redrive,
    ScriptCall,
    Settle,
    SettleAction,
    SettleItem,
    Update,
    criteria,
)
from darkroom.queue.errors import (
    InvalidArgument,
    InvalidMessage,
    MessageNotFound,
    QueueNotFound,
)
from darkroom.queue.instructions import Arm, Op, Pipeline, Script, Wait
from darkroom.queue.keys import HASH_FIELD, Keys
from darkroom.queue.limits import Limits
from darkroom.queue.models import (
    Lease,
    Message,
    NewMessage,
    Outcome,
    Page,
    Settled,
    Settlement,
    State,
)
from darkroom.queue.observer import NullObserver, QueueObserver
from darkroom.unset import UNSET, Unset

__all__ = ["Core"]

_QUERY_BUDGET = 1000


class Core(QueueOps):
    """Validation, script arguments and reply parsing for every queue operation (queue-level ones
    are inherited from ``admin.QueueOps``)."""

    def __init__(self, keys: Keys, limits: Limits, observer: QueueObserver | None = None) -> None:
        self.keys = keys
        self.limits = limits
        self.observer: QueueObserver = observer or NullObserver()
        # names this client in a queue's `waiters` set while one of its dequeues waits
        self.waiter_id = secrets.token_hex(8)

    # -- enqueue -----------------------------------------------------------------------------
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
    ) -> Op[str]:
        """Enqueue one message and return its id (idempotent by ``id``)."""
        msg = NewMessage(payload, deadline, metadata, id, delay_s, max_attempts)
        (mid,) = yield from self.enqueue_many(queue, [msg])
        return mid

    def enqueue_many(self, queue: str, messages: Sequence[NewMessage]) -> Op[list[str]]:
        lim = self.limits
        lim.queue_name(queue)
        lim.batch(len(messages), "messages")
        items: list[EnqueueItem] = []
        ids: list[str] = []
        n_bytes = 0
        for i, msg in enumerate(messages):
            if not isinstance(msg, NewMessage):
                raise InvalidMessage(f"messages[{i}] must be a NewMessage, not {type(msg).__name__}", field="messages")
            fresh = msg.id is None
            mid = str(ULID()) if fresh else lim.message_id(msg.id)
            payload = lim.payload(msg.payload)
            meta = lim.metadata(msg.metadata)
            meta_json = codec.meta_json(meta)
            n_bytes += len(payload) + codec.metadata_bytes(meta)
            deadline_ms = lim.deadline_ms(msg.deadline)
            delay_ms = round(lim.delay_s(msg.delay_s) * 1000)
            max_att = None if msg.max_attempts is None else lim.attempts(msg.max_attempts)
            digest = hashlib.blake2b(digest_size=16)
            digest.update(len(payload).to_bytes(8, "big") + payload)
            digest.update(f"{meta_json}|{deadline_ms}|{max_att}".encode())
            items.append(
                EnqueueItem(mid, payload, meta_json, deadline_ms, delay_ms, max_att, digest.hexdigest(), fresh)
            )
            ids.append(mid)
        lim.batch_bytes(n_bytes, "messages")
        if not messages:
            return []
        yield Script(self.keys.prefix(queue), Enqueue(queue, tuple(items)))
        return ids

    # -- dequeue and leases --------------------------------------------------------------------
    def dequeue(
        self,
        queue: str,
        *,
        max_messages: int = 1,
        lease_s: float | None = None,
        where: Mapping[str, str] | None = None,
        wait_s: float = 0.0,
        fields: Iterable[str] | None = None,
    ) -> Op[list[Lease]]:
        lim = self.limits
        lim.queue_name(queue)
        lim.count(max_messages, "max_messages", 1, lim.max_batch)
        lease_ms = None if lease_s is None else round(lim.lease_s(lease_s) * 1000)
        wait = lim.wait_s(wait_s)
        names = codec.read_fields(fields)
        call = Dequeue(
            queue, max_messages, lease_ms, criteria(lim.metadata(where, "where")), tuple(HASH_FIELD[n] for n in names)
        )
        prefix = self.keys.prefix(queue)
        started = time.monotonic()
        give_up = started + wait
        while True:
            if wait > 0:
                generation = yield Arm(queue)
                wait_ms = max(1, round((give_up - time.monotonic()) * 1000))
                this: ScriptCall = dataclasses.replace(call, waiter=self.waiter_id, wait_ms=wait_ms)
            else:
                generation, this = 0, call
            rows, next_event_ms, now_ms = yield Script(prefix, this)
            if rows or wait <= 0:
                self.observer.dequeued(queue, len(rows), time.monotonic() - started)
                return [
                    Lease(
                        queue=queue,
                        message=codec.message(queue, codec.text(row[0]), names, row[3]),
                        token=int(row[1]),
                        expires_at=codec.ms(row[2]),
                    )
                    for row in rows
                ]
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                self.observer.dequeued(queue, 0, time.monotonic() - started)
                return []
            if next_event_ms is not None:
                # a delay falls due or a lease expires: look again then, without a wake-up
                remaining = min(remaining, max(0.001, (int(next_event_ms) - int(now_ms)) / 1000.0))
            yield Wait(queue, generation, remaining)

    def _check_lease(self, lease: object) -> Lease:
        return codec.check_lease(self.limits, lease)

    def extend(self, lease: Lease, lease_s: float | None = None) -> Op[Lease]:
        lim = self.limits
        self._check_lease(lease)
        seconds = lim.lease_s(lease_s) if lease_s is not None else None
        if seconds is None:
            info = yield from self.get_queue(lease.queue)
            seconds = info.lease_s
        call = Extend(lease.queue, lease.message.id, lease.token, round(seconds * 1000))
        expires = yield Script(self.keys.prefix(lease.queue), call)
        lease.expires_at = codec.ms(expires)
        lease.message.lease_expires_at = lease.expires_at
        return lease

    def settle(self, settlements: Sequence[Settlement]) -> Op[list[Settled]]:
        """Complete or fail leases of one queue in one round trip; one :class:`Settled` per
        settlement, in order (``Outcome.LOST`` where the lease was no longer held)."""
        lim = self.limits
        if not settlements:
            return []
        lim.batch(len(settlements), "settlements")
        queue = self._check_lease(_settlement(settlements, 0).lease).queue
        settled: list[SettleItem] = []
        for i in range(len(settlements)):
            item = _settlement(settlements, i)
            lease = self._check_lease(item.lease)
            if lease.queue != queue:
                raise InvalidArgument(
                    f"leases of queues {queue!r} and {lease.queue!r} cannot be settled in one call", field="lease"
                )
            retry_ms = round(lim.delay_s(item.retry_in_s, "retry_in_s") * 1000)
            if item.error is None:
                result = lim.payload(item.result, "result", lim.max_result_bytes)
                settled.append(
                    SettleItem(lease.message.id, lease.token, SettleAction.COMPLETE, result, False, retry_ms)
                )
            else:
                error = lim.text(item.error, "error", lim.max_error_chars)
                settled.append(
                    SettleItem(lease.message.id, lease.token, SettleAction.FAIL, error, item.retry, retry_ms)
                )
        rows = yield Script(self.keys.prefix(queue), Settle(queue, tuple(settled)))
        out: list[Settled] = []
        for code, lateness in rows:
            if code != b"ok":
                out.append(Settled(Outcome.LOST))
            elif lateness:
                out.append(Settled(Outcome.COMPLETED, int(lateness) / 1000.0))
            else:
                out.append(Settled(Outcome.FAILED))
        done = [x.lateness_s for x in out if x.lateness_s is not None]
        lost = sum(1 for x in out if x.outcome is Outcome.LOST)
        self.observer.settled(queue, done, len(out) - len(done) - lost, lost)
        return out

    def settle_one(self, settlement: Settlement) -> Op[Settled]:
        """Settle one lease; :class:`LeaseLost` when it is no longer held."""
        (settled,) = yield from self.settle([settlement])
        if settled.outcome is Outcome.LOST:
            raise codec.lease_lost(settlement.lease)
        return settled

    def complete(self, lease: Lease, result: bytes = b"") -> Op[float]:
        """Finish a leased message; returns its lateness (seconds past the deadline)."""
        settled = yield from self.settle_one(Settlement.complete(lease, result))
        return settled.lateness_s or 0.0

    def complete_many(self, leases: Sequence[Lease], results: Sequence[bytes] | None = None) -> Op[list[bool]]:
        """Finish leases of one queue in one round trip; False where a lease was lost."""
        res = results if results is not None else [b""] * len(leases)
        if len(res) != len(leases):
            raise InvalidArgument(f"{len(res)} results for {len(leases)} leases", field="results")
        settled = yield from self.settle([Settlement.complete(ls, r) for ls, r in zip(leases, res, strict=True)])
        return [s.outcome is not Outcome.LOST for s in settled]

    def fail(self, lease: Lease, error: str = "", *, retry: bool = True, retry_in_s: float = 0.0) -> Op[None]:
        """Give a leased message back: retried while attempts remain (``retry``), else errored."""
        yield from self.settle_one(Settlement.fail(lease, error, retry=retry, retry_in_s=retry_in_s))

    # -- single messages ---------------------------------------------------------------------
    def _by_id(self, queue: str, mid: str, call: ScriptCall) -> Op[object]:
        self.limits.queue_name(queue)
        self.limits.message_id(mid)
        return (yield Script(self.keys.prefix(queue), call))

    def cancel(self, queue: str, mid: str) -> Op[bool]:
        return bool((yield from self._by_id(queue, mid, Cancel(queue, mid))))

    def redrive(self, queue: str, mid: str) -> Op[None]:
        yield from self._by_id(queue, mid, Redrive(queue, mid))

    def update(
        self,
        queue: str,
        mid: str,
        *,
        deadline: float | datetime | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
        payload: bytes | Unset | None = UNSET,
        delay_s: float | Unset | None = UNSET,
    ) -> Op[None]:
        """Change only the given fields; ``None`` clears one (deadline: now, delay: none)."""
        lim = self.limits
        call = Update(queue, mid)
        if not isinstance(deadline, Unset):
            dl = lim.deadline_ms(deadline)
            if dl is None:
                # clearing the deadline means "due now", like an enqueue without one
                (now,) = yield Pipeline((("TIME",),))
                dl = int(now[0]) * 1000 + int(now[1]) // 1000
            call = dataclasses.replace(call, deadline_ms=dl)
        if not isinstance(metadata, Unset):
            call = dataclasses.replace(call, meta_json=codec.meta_json(lim.metadata(metadata)))
        if not isinstance(payload, Unset):
            call = dataclasses.replace(call, payload=lim.payload(b"" if payload is None else payload))
        if not isinstance(delay_s, Unset):
            call = dataclasses.replace(call, delay_ms=None if delay_s is None else round(lim.delay_s(delay_s) * 1000))
        if not call.changes():
            raise InvalidArgument("update names no field to change", field="update_mask")
        yield from self._by_id(queue, mid, call)

    def get(self, queue: str, mid: str, fields: Iterable[str] | None = None) -> Op[Message]:
        lim = self.limits
        lim.queue_name(queue)
        lim.message_id(mid)
        names = codec.read_fields(fields)
        values, conf_exists = yield Pipeline(
            (
                ("HMGET", self.keys.message(queue, mid), "seq", *[HASH_FIELD[n] for n in names]),
                ("EXISTS", self.keys.conf(queue)),
            )
        )
        if not conf_exists:
            raise QueueNotFound(f"queue {queue!r} does not exist", field="queue")
        if values[0] is None:
            raise MessageNotFound(f"message {mid!r} not found in queue {queue!r}", field="id")
        return codec.message(queue, mid, names, values[1:])

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
    ) -> Op[Page]:
        lim = self.limits
        lim.queue_name(queue)
        lim.count(limit, "limit", 1, lim.max_batch)
        pairs = criteria(lim.metadata(where, "where"))
        names = codec.read_fields(fields)
        hash_fields = tuple(HASH_FIELD[n] for n in names)
        states = STATE_ORDER if state is None else (codec.parse_state(state),)
        start_state, score, member = (states[0], "", "") if cursor is None else codec.decode_cursor(cursor)
        if start_state not in states:
            raise InvalidArgument(f"cursor belongs to state {start_state.value!r}, not this query", field="cursor")
        messages: list[Message] = []
        for st in states[states.index(start_state) :]:
            state_set = self.keys.state_set(queue, st)[len(self.keys.prefix(queue)) :]
            call = Query(queue, state_set, score, member, limit - len(messages), _QUERY_BUDGET, pairs, hash_fields)
            rows, next_score, next_member = yield Script(self.keys.prefix(queue), call)
            messages += [codec.message(queue, codec.text(row[0]), names, row[1:]) for row in rows]
            if next_member is not None:
                return Page(messages, codec.encode_cursor(st, next_score, next_member))
            score, member = "", ""
            if len(messages) >= limit:
                later = states[states.index(st) + 1 :]
                return Page(messages, codec.encode_cursor(later[0], b"", b"") if later else None)
        return Page(messages, None)

    def count(self, queue: str, state: State | str | None = None) -> Op[int]:
        self.limits.queue_name(queue)
        states = STATE_ORDER if state is None else (codec.parse_state(state),)
        replies = yield Pipeline(
            (("EXISTS", self.keys.conf(queue)),) + tuple(("ZCARD", self.keys.state_set(queue, s)) for s in states)
        )
        if not replies[0]:
            raise QueueNotFound(f"queue {queue!r} does not exist", field="queue")
        return sum(int(n) for n in replies[1:])


def _settlement(settlements: Sequence[Settlement], i: int) -> Settlement:
    item = settlements[i]
    if not isinstance(item, Settlement):
        raise InvalidArgument(f"settlements[{i}] must be a Settlement, not {type(item).__name__}", field="settlements")
    return item
