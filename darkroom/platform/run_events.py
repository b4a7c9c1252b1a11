"""Where the workflow engine's run events go: the events outbox, which the outbox relay
(:mod:`darkroom.social.relay`) publishes to the events stream (``social.keys.EVENTS``).

The runtime sits below the social product and knows neither the outbox nor the stream: it hands
its events to a :class:`~darkroom.runtime.workflow.run_events.RunEventSink`. This module, in the
composition root, is the sink: each event becomes the row ``social.events.record`` would write
(the stream entry's fields, ``Event.to_fields``), in the pass's transaction. On SQLite the rows go
to the DB-API cursor of that transaction in one ``executemany`` (SQLAlchemy's execution costs more
Python than the insert itself; the engine's own statements do the same), elsewhere through
``record``. :func:`run_event_sink` picks the sink named by ``DARKROOM_RUN_EVENTS``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson
import sqlalchemy as sa

from darkroom.config import RUN_EVENT_SINKS, ConfigError
from darkroom.runtime.workflow.run_events import RunEvent, RunEventSink
from darkroom.social.events import Event, EventType, record

__all__ = ["OutboxRunEvents", "run_event_sink"]

_INSERT = "INSERT INTO outbox (event_id, type, payload, created_at) VALUES (?, ?, ?, ?)"


class OutboxRunEvents:
    """A :class:`~darkroom.runtime.workflow.run_events.RunEventSink`: the events outbox."""

    def record(self, conn: sa.Connection, events: Sequence[RunEvent]) -> None:
        if not events:
            return
        social = [_event(e) for e in events]
        raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        if isinstance(raw, sqlite3.Connection):
            # the text SQLAlchemy's JSON type would store: the relay reads it back as text either way
            rows = [(e.event_id, str(e.type), orjson.dumps(e.to_fields()).decode(), e.occurred_at) for e in social]
            raw.executemany(_INSERT, rows)
            return
        record(conn, *social)


def _event(e: RunEvent) -> Event:
    return Event(
        type=EventType(e.type),
        account_id=e.account_id,
        data=e.properties,
        event_id=e.event_id,
        occurred_at=e.occurred_at,
    )


def run_event_sink(name: str) -> RunEventSink | None:
    """The sink ``DARKROOM_RUN_EVENTS`` names: ``outbox`` (the default), or ``none`` for a platform
    that runs no outbox relay (a media-only one), whose outbox would only grow."""
    if name == "outbox":
        return OutboxRunEvents()
    if name == "none":
        return None
    raise ConfigError(f"DARKROOM_RUN_EVENTS={name!r} must be one of {', '.join(RUN_EVENT_SINKS)}")
