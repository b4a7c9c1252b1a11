"""Requests to the queue server, written once without I/O (the gRPC twin of ``core.Core``).

Each method of :class:`Requests` validates what the wire cannot carry, builds the request and
says how to read the reply (a :class:`Call`); ``grpc_client.GrpcQueue`` and ``AsyncGrpcQueue``
only send it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from darkroom._proto.darkroom.queue.v1 import queue_pb2 as pb
from darkroom.api.errors import InvalidTime
from darkroom.api.timestamps import duration_from_s, seconds_of_duration, timestamp_from_s
from darkroom.queue import codec
from darkroom.queue.errors import InvalidArgument, InvalidMessage
from darkroom.queue.limits import Limits
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
from darkroom.queue.wire import (
    instant,
    lease_from_pb,
    message_from_pb,
    optional_instant,
    queue_from_pb,
    span,
    state_to_pb,
    stats_from_pb,
)
from darkroom.unset import UNSET, Unset

__all__ = ["Call", "Requests"]

R = TypeVar("R")
_INT64 = (-(1 << 63), (1 << 63) - 1)


@dataclass(frozen=True, slots=True)
class Call(Generic[R]):
    """One RPC to make (``method`` None: the answer needs no call) and how to read its reply."""

    method: str | None
    request: Any
    parse: Callable[[Any], R]
    extra_s: float = 0.0  # added to the client's timeout (long polls)


def _local(value: R) -> Call[R]:
    return Call(None, None, lambda _: value)


class Requests:
    """Request building and reply parsing for every queue operation (no I/O).

    The server validates everything. Here, only what a protobuf field cannot carry (wrong types,
    unencodable text, out-of-int64 numbers) is refused, through ``Limits`` so the error is the
    server's own, and in the order ``core.Core`` checks arguments, so a bad call raises what the
    Redis client raises. ``limits`` should match the server's; they only shape those messages.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    # -- value checks ---------------------------------------------------------------------------
    def _name(self, name: object) -> str:
        return self.limits.queue_name(name)  # a fixed pattern, the same on every server

    def _id(self, mid: object) -> str:
        if isinstance(mid, str) and _utf8(mid):
            return mid
        return self.limits.message_id(mid)  # raises the server's error for this value

    def _span(self, value: object, field: str, check: Callable[[object], object] | None = None) -> Duration:
        """``value`` seconds as a Duration. One a Duration cannot hold (not a number, NaN, infinite,
        beyond 10,000 years) raises the server's error for it: ``check``, the limit it breaks."""
        try:
            return duration_from_s(value, field)  # type: ignore[arg-type]
        except InvalidTime:
            pass
        if check is not None:
            check(value)  # raises
        self.limits.seconds(value, field, -math.inf, math.inf)  # raises: not a finite number
        raise InvalidArgument(f"{field} {value!r} is out of range", field=field)

    def _int(self, value: object, field: str, low: int, high: int) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]:
            return value
        return self.limits.count(value, field, low, high)  # raises: the server's range is inside int64

    def _text_map(self, value: object, field: str) -> dict[str, str]:
        if value is None:
            return {}
        if isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) and _utf8(k) and _utf8(v) for k, v in value.items()
        ):
            return dict(value)
        self.limits.metadata(value, field)  # raises
        raise InvalidMessage(f"{field} must be a mapping of str to str", field=field)

    def _bytes(self, value: object, field: str) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        self.limits.payload(value, field)  # raises
        raise InvalidMessage(f"{field} must be bytes", field=field)

    def _error_text(self, value: object) -> str:
        if isinstance(value, str) and _utf8(value):
            return value
        self.limits.text(value, "error", self.limits.max_error_chars)  # raises
        raise InvalidArgument(f"error {value!r} must be text", field="error")

    def _deadline(self, value: object) -> Timestamp | None:
        if value is None:
            return None
        seconds = value.timestamp() if isinstance(value, datetime) and value.tzinfo is not None else value
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            try:
                return timestamp_from_s(seconds, "deadline")
            except InvalidTime:  # NaN, infinite, beyond year 9999: the server's refusal, from here
                pass
        self.limits.deadline_ms(value)  # raises: naive datetime, wrong type, out of range
        raise InvalidMessage(f"deadline {value!r} must be epoch seconds or a datetime", field="deadline")

    def _state(self, value: State | str | None) -> Any:
        return pb.STATE_UNSPECIFIED if value is None else state_to_pb(codec.parse_state(value))

    def _lease(self, lease: object) -> pb.LeaseRef:
        checked = codec.check_lease(self.limits, lease)
        return pb.LeaseRef(queue=checked.queue, id=checked.message.id, token=checked.token)

    def _read_mask(self, fields: Iterable[str] | None) -> FieldMask | None:
        """Message attribute names -> a read mask, refusing what the Redis client refuses."""
        if fields is None:
            return None
        names: Any = fields if isinstance(fields, (str, bytes)) or not isinstance(fields, Iterable) else list(fields)
        codec.read_fields(names)  # raises what the Redis client raises
        # an empty list asks for id and queue only; an empty mask would mean "everything"
        return FieldMask(paths=names or ["id"])

    def _new_message(self, i: int, msg: object) -> pb.NewMessage:
        if not isinstance(msg, NewMessage):
            raise InvalidMessage(f"messages[{i}] must be a NewMessage, not {type(msg).__name__}", field="messages")
        out = pb.NewMessage()
        if msg.id is not None:
            out.id = self._id(msg.id)
        out.payload = self._bytes(msg.payload, "payload")
        out.metadata.update(self._text_map(msg.metadata, "metadata"))
        deadline = self._deadline(msg.deadline)
        if deadline is not None:
            out.deadline.CopyFrom(deadline)
        out.delay_s.CopyFrom(self._span(msg.delay_s, "delay_s", self.limits.delay_s))
        if msg.max_attempts is not None:
            out.max_attempts = self._int(msg.max_attempts, "max_attempts", 1, self.limits.max_attempts)
        return out

    def _settlement(self, settlements: Sequence[Settlement], i: int) -> pb.Settlement:
        item = settlements[i]
        if not isinstance(item, Settlement):
            raise InvalidArgument(
                f"settlements[{i}] must be a Settlement, not {type(item).__name__}", field="settlements"
            )
        ref = self._lease(item.lease)
        if item.error is None:
            result = self._bytes(item.result, "result")
            # a completion has no retry delay on the wire, yet the Redis client checks it
            self.limits.delay_s(item.retry_in_s, "retry_in_s")
            return pb.Settlement(complete=pb.Completion(lease=ref, result=result))
        error = self._error_text(item.error)
        retry_in = self._span(item.retry_in_s, "retry_in_s", lambda v: self.limits.delay_s(v, "retry_in_s"))
        return pb.Settlement(fail=pb.Failure(lease=ref, error=error, retry=bool(item.retry), retry_in_s=retry_in))

    # -- queues ---------------------------------------------------------------------------------
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
    ) -> Call[QueueInfo]:
        lim = self.limits
        req = pb.CreateQueueRequest(name=self._name(name))
        req.lease_s.CopyFrom(self._span(lease_s, "lease_s", lim.lease_s))
        req.max_attempts = self._int(max_attempts, "max_attempts", 1, lim.max_attempts)
        req.retention_s.CopyFrom(self._span(retention_s, "retention_s"))
        if max_payload_bytes is not None:
            req.max_payload_bytes = self._int(max_payload_bytes, "max_payload_bytes", 0, lim.max_payload_bytes)
        if exclusivity_key is not None:
            if not isinstance(exclusivity_key, str) or not _utf8(exclusivity_key):
                lim.metadata_key(exclusivity_key, "exclusivity_key")
            req.exclusivity_key = exclusivity_key
        req.exclusivity_limit = self._int(exclusivity_limit, "exclusivity_limit", 1, 1_000_000)
        if isinstance(indexed_keys, str):
            raise InvalidArgument("indexed_keys must be a sequence of keys, not a str", field="indexed_keys")
        for key in indexed_keys:
            if not isinstance(key, str) or not _utf8(key):
                lim.metadata_key(key, "indexed_keys")
            req.indexed_keys.append(key)
        req.events_max = self._int(events_max, "events_max", 1, 10_000_000)
        return Call("CreateQueue", req, queue_from_pb)

    def get_queue(self, name: str) -> Call[QueueInfo]:
        return Call("GetQueue", pb.GetQueueRequest(name=self._name(name)), queue_from_pb)

    def list_queues(self) -> Call[list[QueueInfo]]:
        return Call("ListQueues", pb.ListQueuesRequest(), lambda r: [queue_from_pb(q) for q in r.queues])

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
    ) -> Call[QueueInfo]:
        lim = self.limits
        body = pb.Queue(name=self._name(name))
        paths: list[str] = []
        if not isinstance(lease_s, Unset):
            body.lease_s.CopyFrom(self._span(lease_s, "lease_s", lim.lease_s))
            paths.append("lease_s")
        if not isinstance(max_attempts, Unset):
            body.max_attempts = self._int(max_attempts, "max_attempts", 1, lim.max_attempts)
            paths.append("max_attempts")
        if not isinstance(retention_s, Unset):
            body.retention_s.CopyFrom(self._span(retention_s, "retention_s"))
            paths.append("retention_s")
        if not isinstance(max_payload_bytes, Unset):
            body.max_payload_bytes = self._int(max_payload_bytes, "max_payload_bytes", 0, lim.max_payload_bytes)
            paths.append("max_payload_bytes")
        if not isinstance(paused, Unset):
            if not isinstance(paused, bool):
                raise InvalidArgument(f"paused {paused!r} must be a bool", field="paused")
            body.paused = paused
            paths.append("paused")
        if not isinstance(events_max, Unset):
            body.events_max = self._int(events_max, "events_max", 1, 10_000_000)
            paths.append("events_max")
        if not paths:
            # RedisQueue answers the settings unchanged; the server refuses an empty update mask
            return self.get_queue(name)
        req = pb.UpdateQueueRequest(queue=body, update_mask=FieldMask(paths=paths))
        return Call("UpdateQueue", req, queue_from_pb)

    def delete_queue(self, name: str) -> Call[bool]:
        return Call("DeleteQueue", pb.DeleteQueueRequest(name=self._name(name)), lambda r: bool(r.existed))

    def pause(self, queue: str) -> Call[None]:
        call = self.update_queue(queue, paused=True)
        return Call(call.method, call.request, lambda _: None)

    def resume(self, queue: str) -> Call[None]:
        call = self.update_queue(queue, paused=False)
        return Call(call.method, call.request, lambda _: None)

    # -- enqueue --------------------------------------------------------------------------------
    def enqueue_many(self, queue: str, messages: Sequence[NewMessage]) -> Call[list[str]]:
        req = pb.EnqueueRequest(queue=self._name(queue))
        self.limits.batch(len(messages), "messages")
        req.messages.extend(self._new_message(i, m) for i, m in enumerate(messages))
        # the server's limit, checked here too: a request over the transport's cap never arrives
        n_bytes = sum(len(m.payload) + codec.metadata_bytes(m.metadata) for m in req.messages)
        self.limits.batch_bytes(n_bytes, "messages")
        return Call("Enqueue", req, lambda r: list(r.ids))

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
    ) -> Call[str]:
        """Enqueue one message and return its id (idempotent by ``id``)."""
        call = self.enqueue_many(queue, [NewMessage(payload, deadline, metadata, id, delay_s, max_attempts)])
        return Call(call.method, call.request, lambda r: str(r.ids[0]))

    # -- dequeue and leases ---------------------------------------------------------------------
    def dequeue(
        self,
        queue: str,
        *,
        max_messages: int = 1,
        lease_s: float | None = None,
        where: Mapping[str, str] | None = None,
        wait_s: float = 0.0,
        fields: Iterable[str] | None = None,
    ) -> Call[list[Lease]]:
        req = pb.DequeueRequest(queue=self._name(queue))
        req.max_messages = self._int(max_messages, "max_messages", 1, self.limits.max_batch)
        if lease_s is not None:
            req.lease_s.CopyFrom(self._span(lease_s, "lease_s", self.limits.lease_s))
        req.wait_s.CopyFrom(self._span(wait_s, "wait_s", self.limits.wait_s))
        req.where.update(self._text_map(where, "where"))
        mask = self._read_mask(fields)
        if mask is not None:
            req.read_mask.CopyFrom(mask)
        extra = max(0.0, seconds_of_duration(req.wait_s, "wait_s"))
        return Call("Dequeue", req, lambda r: [lease_from_pb(x) for x in r.leases], extra)

    def extend(self, lease: Lease, lease_s: float | None = None) -> Call[Lease]:
        req = pb.ExtendRequest(lease=self._lease(lease))
        if lease_s is not None:
            req.lease_s.CopyFrom(self._span(lease_s, "lease_s", self.limits.lease_s))

        def parse(r: pb.ExtendResponse) -> Lease:
            # like the Redis client: the caller's lease object is updated in place
            lease.expires_at = instant(r, "expires_at")
            lease.message.lease_expires_at = lease.expires_at
            return lease

        return Call("Extend", req, parse)

    def settle(self, settlements: Sequence[Settlement]) -> Call[list[Settled]]:
        """Complete or fail leases of one queue in one round trip (see ``core.Core.settle``)."""
        if not settlements:
            return _local([])
        self.limits.batch(len(settlements), "settlements")
        req = pb.SettleRequest(settlements=[self._settlement(settlements, i) for i in range(len(settlements))])
        return Call("Settle", req, _outcomes)

    def complete(self, lease: Lease, result: bytes = b"") -> Call[float]:
        """Finish a leased message; returns its lateness (seconds past the deadline)."""
        req = pb.CompleteRequest(completions=[self._settlement([Settlement.complete(lease, result)], 0).complete])

        def parse(r: pb.SettleResponse) -> float:
            settled = _outcomes(r)[0]
            if settled.outcome is Outcome.LOST:
                raise codec.lease_lost(lease)
            return settled.lateness_s or 0.0

        return Call("Complete", req, parse)

    def complete_many(self, leases: Sequence[Lease], results: Sequence[bytes] | None = None) -> Call[list[bool]]:
        """Finish leases of one queue in one round trip; False where a lease was lost."""
        res = results if results is not None else [b""] * len(leases)
        items = [Settlement.complete(ls, r) for ls, r in zip(leases, res, strict=True)]
        if not items:
            return _local([])
        self.limits.batch(len(items), "settlements")
        req = pb.CompleteRequest(completions=[self._settlement(items, i).complete for i in range(len(items))])
        return Call("Complete", req, lambda r: [not o.lost for o in r.outcomes])

    def fail(self, lease: Lease, error: str = "", *, retry: bool = True, retry_in_s: float = 0.0) -> Call[None]:
        """Give a leased message back: retried while attempts remain (``retry``), else errored."""
        item = Settlement.fail(lease, error, retry=retry, retry_in_s=retry_in_s)
        req = pb.FailRequest(failures=[self._settlement([item], 0).fail])

        def parse(r: pb.SettleResponse) -> None:
            if r.outcomes[0].lost:
                raise codec.lease_lost(lease)

        return Call("Fail", req, parse)

    # -- single messages ------------------------------------------------------------------------
    def cancel(self, queue: str, mid: str) -> Call[bool]:
        req = pb.CancelRequest(queue=self._name(queue), id=self._id(mid))
        return Call("Cancel", req, lambda r: bool(r.canceled))

    def redrive(self, queue: str, mid: str) -> Call[None]:
        req = pb.RedriveRequest(queue=self._name(queue), id=self._id(mid))
        return Call("Redrive", req, lambda _: None)

    def update(
        self,
        queue: str,
        mid: str,
        *,
        deadline: float | datetime | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
        payload: bytes | Unset | None = UNSET,
        delay_s: float | Unset | None = UNSET,
    ) -> Call[None]:
        """Change only the given fields; ``None`` clears one (deadline: now, delay: none)."""
        patch, paths = pb.MessagePatch(), []
        if not isinstance(deadline, Unset):
            value = self._deadline(deadline)
            if value is not None:
                patch.deadline.CopyFrom(value)
            paths.append("deadline")
        if not isinstance(metadata, Unset):
            patch.metadata.update(self._text_map(metadata, "metadata"))
            paths.append("metadata")
        if not isinstance(payload, Unset):
            patch.payload = self._bytes(b"" if payload is None else payload, "payload")
            paths.append("payload")
        if not isinstance(delay_s, Unset):
            if delay_s is not None:
                patch.delay_s.CopyFrom(self._span(delay_s, "delay_s", self.limits.delay_s))
            paths.append("delay_s")
        if not paths:
            raise InvalidArgument("update names no field to change", field="update_mask")
        req = pb.UpdateMessageRequest(
            queue=self._name(queue), id=self._id(mid), message=patch, update_mask=FieldMask(paths=paths)
        )
        return Call("UpdateMessage", req, lambda _: None)

    def get(self, queue: str, mid: str, fields: Iterable[str] | None = None) -> Call[Message]:
        req = pb.GetMessageRequest(queue=self._name(queue), id=self._id(mid), read_mask=self._read_mask(fields))
        return Call("GetMessage", req, message_from_pb)

    # -- reads over many messages ---------------------------------------------------------------
    def query(
        self,
        queue: str,
        *,
        state: State | str | None = None,
        where: Mapping[str, str] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        fields: Iterable[str] | None = None,
    ) -> Call[Page]:
        req = pb.QueryMessagesRequest(queue=self._name(queue))
        req.page_size = self._int(limit, "limit", 1, self.limits.max_batch)
        req.where.update(self._text_map(where, "where"))
        mask = self._read_mask(fields)
        if mask is not None:
            req.read_mask.CopyFrom(mask)
        req.state = self._state(state)
        if cursor is not None:
            if not isinstance(cursor, str) or not cursor or not _utf8(cursor):
                # "" too: on the wire an empty page token means "the first page"
                shown = cursor[:40] if isinstance(cursor, str) else cursor
                raise InvalidArgument(f"cursor {shown!r} is not a cursor this queue issued", field="cursor")
            req.page_token = cursor

        def parse(r: pb.QueryMessagesResponse) -> Page:
            return Page([message_from_pb(m) for m in r.messages], r.next_page_token or None)

        return Call("QueryMessages", req, parse)

    def count(self, queue: str, state: State | str | None = None) -> Call[int]:
        req = pb.CountMessagesRequest(queue=self._name(queue), state=self._state(state))
        return Call("CountMessages", req, lambda r: int(r.count))

    def stats(self, queue: str) -> Call[QueueStats]:
        return Call("GetQueueStats", pb.GetQueueStatsRequest(queue=self._name(queue)), stats_from_pb)

    def sweep(self, queue: str, *, purge: bool = True, limit: int = 1000) -> Call[SweepResult]:
        req = pb.SweepRequest(queue=self._name(queue), purge=bool(purge), limit=self._int(limit, "limit", 1, 100_000))

        def parse(r: pb.SweepResponse) -> SweepResult:
            return SweepResult(int(r.moved), int(r.purged), optional_instant(r, "next_event_at"))

        return Call("Sweep", req, parse)


def _outcomes(r: pb.SettleResponse) -> list[Settled]:
    return [
        Settled(Outcome.LOST)
        if o.lost
        else Settled(Outcome.COMPLETED, span(o, "lateness_s"))
        if o.HasField("lateness_s")
        else Settled(Outcome.FAILED)
        for o in r.outcomes
    ]


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
