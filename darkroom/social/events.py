"""The events every action publishes (the article's two-step post: persist, then publish).

An action writes its event with :func:`record` in the action's own transaction (the outbox row);
the relay (:mod:`darkroom.social.relay`) publishes committed rows to the Redis stream
:data:`STREAM`, where consumers (feed fan-out, counters, analytics) read them in consumer groups.
Event names are a contract: the analytics issue reads them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa

from darkroom.social.ids import new_id
from darkroom.storage.schema import outbox

__all__ = ["ENTRY_FIELDS", "STREAM", "Event", "EventType", "Handler", "record"]

STREAM = "{social:events}"  # the stream key; keys.EVENTS


class EventType(StrEnum):
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_FOLLOWED = "account.followed"
    ACCOUNT_UNFOLLOWED = "account.unfollowed"
    ACCOUNT_BLOCKED = "account.blocked"
    ACCOUNT_UPDATED = "account.updated"
    ACCOUNT_DELETED = "account.deleted"
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_ENABLED = "account.enabled"
    ACCOUNT_UNBLOCKED = "account.unblocked"
    FOLLOW_REQUESTED = "account.follow_requested"
    FOLLOW_REJECTED = "account.follow_rejected"
    POST_CREATED = "post.created"
    POST_READY = "post.ready"
    POST_FAILED = "post.failed"
    POST_UPDATED = "post.updated"
    POST_DELETED = "post.deleted"
    POST_VIEWED = "post.viewed"
    POST_LIKED = "post.liked"
    POST_UNLIKED = "post.unliked"
    COMMENT_CREATED = "comment.created"
    COMMENT_DELETED = "comment.deleted"
    # the workflow engine's (darkroom.runtime.workflow.run_events.RunEventType), written to the same
    # outbox by the engine's passes: the relay publishes them, the social handlers skip them
    STEP_FINISHED = "step.finished"
    WORKFLOW_FINISHED = "workflow.finished"


# the fields of an event's stream entry, in order (Event.to_values)
ENTRY_FIELDS = ("event_id", "type", "occurred_at", "account_id", "post_id", "data")


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened. ``account_id`` is who acted; ``post_id`` is set where a post is
    involved; ``data`` holds the rest (e.g. ``followee_id``, ``comment_id``), small and JSON-shaped."""

    type: EventType
    account_id: str
    post_id: str | None = None
    data: Mapping[str, object] = field(default_factory=dict)
    event_id: str = field(default_factory=new_id)
    occurred_at: float = field(default_factory=time.time)

    def to_fields(self) -> dict[str, str]:
        """The stream entry's fields (strings; ``data`` as JSON)."""
        return dict(zip(ENTRY_FIELDS, self.to_values(), strict=True))

    def to_values(self) -> tuple[str, str, str, str, str, str]:
        """The stream entry's values, in :data:`ENTRY_FIELDS`' order."""
        import orjson

        return (
            self.event_id,
            str(self.type),
            repr(self.occurred_at),
            self.account_id,
            self.post_id or "",
            orjson.dumps(dict(self.data)).decode(),
        )

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Event:
        """The event a stream entry holds (the inverse of :meth:`to_fields`)."""
        import orjson

        return cls(
            type=EventType(fields["type"]),
            account_id=fields["account_id"],
            post_id=fields.get("post_id") or None,
            data=orjson.loads(fields.get("data") or "{}"),
            event_id=fields["event_id"],
            occurred_at=float(fields["occurred_at"]),
        )


def record(conn: sa.Connection, *events: Event) -> None:
    """Write ``events`` to the outbox inside the caller's transaction: they are published if and
    only if the action commits."""
    if not events:
        return
    conn.execute(
        sa.insert(outbox),
        [
            {
                "event_id": e.event_id,
                "type": str(e.type),
                "payload": e.to_fields(),
                "created_at": e.occurred_at,
            }
            for e in events
        ],
    )


class Handler(Protocol):
    """A consumer of the events stream (feed fan-out, counters, analytics): one consumer group each,
    named ``name``. ``handle`` must be idempotent: after a crash the same events come again."""

    name: str

    def handle(self, batch: Sequence[Event]) -> None: ...
