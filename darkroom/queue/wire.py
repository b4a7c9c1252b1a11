"""The wire mapping between the queue's models and ``queue.proto`` messages (client and server).

Times travel as ``Timestamp`` and ``Duration`` (``darkroom.api.timestamps``); the models keep
float seconds. An unset time message is ``None`` where the model allows it, else 0.0.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message as ProtoMessage

from darkroom._proto.darkroom.queue.v1 import queue_pb2 as pb
from darkroom.api.timestamps import duration_from_s, seconds_of_duration, seconds_of_timestamp, timestamp_from_s
from darkroom.queue.errors import InvalidArgument
from darkroom.queue.models import Lease, Message, QueueInfo, QueueStats, State

__all__ = [
    "instant",
    "lease_from_pb",
    "lease_to_pb",
    "message_from_pb",
    "message_to_pb",
    "queue_from_pb",
    "queue_to_pb",
    "optional",
    "optional_instant",
    "optional_span",
    "span",
    "state_from_pb",
    "state_to_pb",
    "stats_from_pb",
    "stats_to_pb",
]

_STATE_TO_PB: dict[State, int] = {s: pb.State.Value(f"STATE_{s.name}") for s in State}
_PB_TO_STATE: dict[int, State] = {v: k for k, v in _STATE_TO_PB.items()}


def state_to_pb(state: State | None) -> Any:
    return pb.STATE_UNSPECIFIED if state is None else _STATE_TO_PB[state]


def state_from_pb(value: int) -> State | None:
    """``STATE_UNSPECIFIED`` -> None; a number this version does not know is refused."""
    if value == pb.STATE_UNSPECIFIED:
        return None
    if value not in _PB_TO_STATE:
        raise InvalidArgument(f"state {value} is not a known state", field="state")
    return _PB_TO_STATE[value]


def optional(msg: ProtoMessage, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def optional_instant(msg: ProtoMessage, name: str) -> float | None:
    """The epoch seconds of Timestamp field ``name`` of ``msg``; None when unset."""
    return seconds_of_timestamp(getattr(msg, name), name) if msg.HasField(name) else None


def optional_span(msg: ProtoMessage, name: str) -> float | None:
    """The seconds of Duration field ``name`` of ``msg``; None when unset."""
    return seconds_of_duration(getattr(msg, name), name) if msg.HasField(name) else None


def span(msg: ProtoMessage, name: str) -> float:
    """The seconds of Duration field ``name`` of ``msg``; 0.0 when unset."""
    return seconds_of_duration(getattr(msg, name), name)


def instant(msg: ProtoMessage, name: str) -> float:
    """The epoch seconds of Timestamp field ``name``; 0.0 when unset (left out by a read mask)."""
    return seconds_of_timestamp(getattr(msg, name), name)


def message_to_pb(m: Message) -> pb.Message:
    out = pb.Message(
        id=m.id,
        queue=m.queue,
        payload=m.payload,
        metadata=m.metadata,
        deadline=timestamp_from_s(m.deadline, "deadline"),
        state=state_to_pb(m.state),
        attempts=m.attempts,
        max_attempts=m.max_attempts,
        created_at=timestamp_from_s(m.created_at, "created_at"),
        updated_at=timestamp_from_s(m.updated_at, "updated_at"),
    )
    for name in ("visible_at", "lease_expires_at"):
        value = getattr(m, name)
        if value is not None:
            getattr(out, name).CopyFrom(timestamp_from_s(value, name))
    for name in ("last_error", "result"):
        value = getattr(m, name)
        if value is not None:
            setattr(out, name, value)
    return out


def message_from_pb(p: pb.Message) -> Message:
    return Message(
        id=p.id,
        queue=p.queue,
        payload=p.payload,
        metadata=dict(p.metadata),
        deadline=instant(p, "deadline"),
        state=_PB_TO_STATE.get(p.state),
        attempts=p.attempts,
        max_attempts=p.max_attempts,
        created_at=instant(p, "created_at"),
        updated_at=instant(p, "updated_at"),
        visible_at=optional_instant(p, "visible_at"),
        lease_expires_at=optional_instant(p, "lease_expires_at"),
        last_error=optional(p, "last_error"),
        result=optional(p, "result"),
    )


def queue_to_pb(info: QueueInfo) -> pb.Queue:
    return pb.Queue(
        name=info.name,
        lease_s=duration_from_s(info.lease_s, "lease_s"),
        max_attempts=info.max_attempts,
        retention_s=duration_from_s(info.retention_s, "retention_s"),
        max_payload_bytes=info.max_payload_bytes,
        exclusivity_key=info.exclusivity_key,
        exclusivity_limit=info.exclusivity_limit,
        indexed_keys=info.indexed_keys,
        paused=info.paused,
        created_at=timestamp_from_s(info.created_at, "created_at"),
        events_max=info.events_max,
    )


def queue_from_pb(p: pb.Queue) -> QueueInfo:
    return QueueInfo(
        name=p.name,
        lease_s=span(p, "lease_s"),
        max_attempts=p.max_attempts,
        retention_s=span(p, "retention_s"),
        max_payload_bytes=p.max_payload_bytes,
        exclusivity_key=optional(p, "exclusivity_key"),
        exclusivity_limit=p.exclusivity_limit,
        indexed_keys=tuple(p.indexed_keys),
        paused=p.paused,
        created_at=instant(p, "created_at"),
        events_max=p.events_max,
    )


def lease_to_pb(lease: Lease, message: pb.Message | None = None) -> pb.Lease:
    return pb.Lease(
        queue=lease.queue,
        message=message_to_pb(lease.message) if message is None else message,
        token=lease.token,
        expires_at=timestamp_from_s(lease.expires_at, "expires_at"),
    )


def lease_from_pb(p: pb.Lease) -> Lease:
    return Lease(queue=p.queue, message=message_from_pb(p.message), token=p.token, expires_at=instant(p, "expires_at"))


def stats_to_pb(s: QueueStats) -> pb.QueueStats:
    out = pb.QueueStats(
        queue=s.queue,
        counts={state.value: n for state, n in s.counts.items()},
        running_per_value=s.running_per_value,
        now=timestamp_from_s(s.now, "now"),
    )
    if s.oldest_pending_deadline is not None:
        out.oldest_pending_deadline.CopyFrom(timestamp_from_s(s.oldest_pending_deadline, "oldest_pending_deadline"))
    return out


def stats_from_pb(p: pb.QueueStats) -> QueueStats:
    return QueueStats(
        queue=p.queue,
        counts={s: p.counts[s.value] for s in State if s.value in p.counts},
        running_per_value=dict(p.running_per_value),
        oldest_pending_deadline=optional_instant(p, "oldest_pending_deadline"),
        now=instant(p, "now"),
    )
