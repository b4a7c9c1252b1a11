"""Between the scripts and the models: reply parsing, error replies, cursors, read masks.

Pure functions with no I/O, shared by every client of the queue.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from darkroom.queue.errors import (
    Conflict,
    InvalidArgument,
    InvalidCriteria,
    InvalidMessage,
    LeaseLost,
    MessageNotFound,
    PayloadTooLarge,
    QueueDamaged,
    QueueError,
    QueueNotFound,
)
from darkroom.queue.keys import HASH_FIELD
from darkroom.queue.limits import Limits
from darkroom.queue.models import MESSAGE_FIELDS, Lease, Message, QueueInfo, State

__all__ = [
    "check_lease",
    "decode_cursor",
    "encode_cursor",
    "error_from_reply",
    "lease_lost",
    "message",
    "meta_json",
    "metadata_bytes",
    "ms",
    "parse_state",
    "queue_info",
    "read_fields",
    "text",
]

_ERRORS: dict[str, type[QueueError]] = {
    "QUEUE_NOT_FOUND": QueueNotFound,
    "MESSAGE_NOT_FOUND": MessageNotFound,
    "INVALID_MESSAGE": InvalidMessage,
    "INVALID_CRITERIA": InvalidCriteria,
    "PAYLOAD_TOO_LARGE": PayloadTooLarge,
    "CONFLICT": Conflict,
    "INVALID_ARGUMENT": InvalidArgument,
    "QUEUE_DAMAGED": QueueDamaged,
    "LEASE_LOST": LeaseLost,
}
_ALL_FIELDS = tuple(HASH_FIELD)


def error_from_reply(reply: str) -> QueueError | None:
    """Turn a script's ``DR_<CODE> detail`` error reply into the matching typed error."""
    if not reply.startswith("DR_"):
        return None
    # errors raised mid-script carry redis's "script: <sha>, on @user_script:<line>." suffix
    reply = reply.split(" script: ", 1)[0]
    code, _, detail = reply[3:].partition(" ")
    detail = detail.strip()
    parts = detail.split(" ")
    cls = _ERRORS.get(code, QueueError)
    if cls is QueueNotFound:
        return QueueNotFound(f"queue {parts[0]!r} does not exist", field="queue")
    if cls is MessageNotFound:
        return MessageNotFound(f"message {parts[0]!r} not found in queue {parts[-1]!r}", field="id")
    if cls is LeaseLost:
        return LeaseLost(
            f"lease {parts[-1]} on message {parts[0]!r} in queue {parts[1]!r} is no longer held", field="token"
        )
    if cls is PayloadTooLarge:
        return PayloadTooLarge(
            f"payload of message {parts[0]!r} is {parts[1]} bytes; the queue allows {parts[2]}", field="payload"
        )
    if cls is InvalidCriteria:
        indexed = ", ".join(parts[2:]) or "none"
        return InvalidCriteria(
            f"where key {parts[0]!r} is not indexed by queue {parts[1]!r} (indexed keys: {indexed})", field="where"
        )
    if cls is InvalidMessage:
        return InvalidMessage(f"message {detail}", field="metadata")
    return cls(detail)


def ms(value: str | bytes | int | float) -> float:
    return int(value) / 1000.0


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def read_fields(read_mask: Iterable[str] | None) -> tuple[str, ...]:
    """Message attribute names of a read mask -> hash fields to load (None = all)."""
    if read_mask is None:
        return _ALL_FIELDS
    if isinstance(read_mask, (str, bytes)) or not isinstance(read_mask, Iterable):
        raise InvalidArgument(f"read mask {read_mask!r} must be a list of field names", field="read_mask")
    out: list[str] = []
    for name in read_mask:
        if name == "*":
            return _ALL_FIELDS
        if name not in MESSAGE_FIELDS:
            raise InvalidArgument(f"unknown message field {name!r} in read mask", field="read_mask")
        if name in HASH_FIELD and name not in out:
            out.append(name)
    return tuple(out)


def _metadata(raw: bytes) -> dict[str, str]:
    if raw == b"{}":
        return {}
    meta = json.loads(raw)
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"metadata {raw[:40]!r} is not an object of strings")
    return meta


def _time(raw: bytes) -> float | None:
    # an emptied time field means "not set" (a lease that ended, a delay that passed)
    return int(raw) / 1000.0 if raw else None


_STATES = {s.value.encode(): s for s in State}
# How each hash field becomes a Message attribute; ``None`` values (absent fields) are skipped.
_PARSE: dict[str, Callable[[Any], Any]] = {
    "payload": bytes,
    "result": bytes,
    "metadata": _metadata,
    "state": _STATES.__getitem__,
    "attempts": int,
    "max_attempts": int,
    "last_error": text,
    "deadline": _time,
    "created_at": _time,
    "updated_at": _time,
    "visible_at": _time,
    "lease_expires_at": _time,
}


def _parsed(name: str, raw: Any) -> Any:
    try:
        return _PARSE[name](raw)
    except (ValueError, KeyError):
        return None  # a garbled field reads as unset: the reply to a script that ran must not fail


def message(queue: str, mid: str, names: Sequence[str], values: Sequence[Any]) -> Message:
    parsed = ((name, _parsed(name, raw)) for name, raw in zip(names, values, strict=True) if raw is not None)
    # None (an emptied time field) leaves the attribute at its default
    fields = {name: value for name, value in parsed if value is not None}
    return Message(id=mid, queue=queue, **fields)


def queue_info(name: str, raw: Mapping[bytes, bytes]) -> QueueInfo:
    c = {text(k): text(v) for k, v in raw.items()}
    return QueueInfo(
        name=name,
        lease_s=int(c["lease_ms"]) / 1000.0,
        max_attempts=int(c["max_att"]),
        retention_s=int(c["retention_ms"]) / 1000.0,
        max_payload_bytes=int(c["max_payload"]),
        exclusivity_key=c["xkey"] or None,
        exclusivity_limit=int(c["xlimit"]),
        indexed_keys=tuple(c["ikeys_s"].split()),
        paused=c.get("paused") == "1",
        created_at=ms(c.get("ca", 0)),
        events_max=int(c.get("events_max", 10_000)),
    )


def metadata_bytes(meta: Mapping[str, str]) -> int:
    """The size of metadata as ``Limits.max_batch_bytes`` counts it: its keys and values, UTF-8."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())


def meta_json(meta: Mapping[str, str]) -> str:
    return json.dumps(meta, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def encode_cursor(state: State, score: bytes, member: bytes) -> str:
    raw = json.dumps([state.value, text(score), text(member)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A score as Redis reads one in a range (what ZRANGE ... WITHSCORES answers, and no more).
_SCORE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def decode_cursor(cursor: object) -> tuple[State, str, str]:
    """The (state, score, member) of a cursor from :func:`encode_cursor`; anything else, including
    a forged cursor with a score Redis cannot read, is an ``InvalidArgument`` naming it."""
    shown = repr(cursor) if len(repr(cursor)) <= 60 else repr(cursor)[:57] + "..."

    def refuse(why: str) -> InvalidArgument:
        return InvalidArgument(f"cursor {shown} is not a cursor this queue issued: {why}", field="cursor")

    if not isinstance(cursor, str):
        raise refuse(f"a cursor is a str, not {type(cursor).__name__}")
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise refuse("it is not base64 of JSON") from exc
    if not (isinstance(parts, list) and len(parts) == 3 and all(isinstance(p, str) for p in parts)):
        raise refuse("it does not hold [state, score, member]")
    state, score, member = parts
    try:
        st = State(state)
    except ValueError:
        raise refuse(f"state {state!r} is not one of {[s.value for s in State]}") from None
    if (score or member) and not _SCORE.fullmatch(score):
        raise refuse(f"score {score!r} is not a number")
    return st, score, member


def check_lease(limits: Limits, lease: object) -> Lease:
    """A lease as a client may present it: the right type, a valid queue and id, a real token."""
    if not isinstance(lease, Lease) or not isinstance(lease.message, Message):
        raise InvalidArgument(f"expected a Lease, got {type(lease).__name__}", field="lease")
    limits.queue_name(lease.queue)
    limits.message_id(lease.message.id)
    if isinstance(lease.token, bool) or not isinstance(lease.token, int) or not 0 < lease.token < 2**53:
        raise InvalidArgument(f"lease token {lease.token!r} is not a token this queue issued", field="token")
    return lease


def lease_lost(lease: Lease) -> LeaseLost:
    """The error of a call on a lease no longer held (the same words from every client)."""
    return LeaseLost(
        f"lease {lease.token} on message {lease.message.id!r} in queue {lease.queue!r} is no longer held",
        field="token",
    )


def parse_state(value: State | str) -> State:
    try:
        return State(value)
    except (ValueError, TypeError):
        raise InvalidArgument(f"state {value!r} is not one of {[s.value for s in State]}", field="state") from None
