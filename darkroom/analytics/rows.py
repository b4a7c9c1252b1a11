"""Stream entries to ``darkroom.events`` rows (:mod:`darkroom.analytics.tables`).

An entry of the events stream holds :meth:`darkroom.social.events.Event.to_fields`: ``event_id``,
``type``, ``occurred_at`` (seconds since the epoch, as text), ``account_id``, ``post_id`` (empty for
none) and ``data`` (a JSON object), which becomes ``properties``. :func:`row_from_entry` turns one
entry into an :class:`EventRow` or raises :class:`~darkroom.analytics.errors.InvalidEntry` naming
it; :class:`EventColumns` collects rows column by column, the shape an Arrow table is built from.

Every :class:`~darkroom.social.events.EventType` maps to a row; :data:`NEEDS_POST` are the types
whose events always name a post; :data:`RUNTIME_TYPES` are the workflow engine's event types,
accepted beside them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson
import pyarrow as pa

from darkroom.analytics.errors import InvalidEntry
from darkroom.analytics.tables import EVENTS_ARROW
from darkroom.social.events import EventType

__all__ = ["NEEDS_POST", "RUNTIME_TYPES", "EventColumns", "EventRow", "row_from_entry", "row_from_flat"]

NEEDS_POST = frozenset(
    {
        EventType.POST_CREATED,
        EventType.POST_READY,
        EventType.POST_FAILED,
        EventType.POST_UPDATED,
        EventType.POST_DELETED,
        EventType.POST_VIEWED,
        EventType.POST_LIKED,
        EventType.POST_UNLIKED,
        EventType.COMMENT_CREATED,
        EventType.COMMENT_DELETED,
    }
)
# The workflow engine's events (docs/analytics.md, "pipeline_sla"): the engine writes them to the
# outbox in the transaction of the pass that ended the step or run; they never name a post.
RUNTIME_TYPES = frozenset({EventType.STEP_FINISHED, EventType.WORKFLOW_FINISHED})
# type text -> whether a post id is required; a dict lookup per entry, not an enum construction
_TYPES: dict[str, bool] = {str(t): t in NEEDS_POST for t in EventType}
_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # a ULID (darkroom.social.ids)
_MAX_PROPERTIES_BYTES = 65_536


class EventRow(NamedTuple):
    """One row of ``darkroom.events``; ``occurred_at_us`` is microseconds since the epoch (UTC)."""

    event_id: str
    type: str
    occurred_at_us: int
    account_id: str | None
    post_id: str | None
    properties: str


def row_from_entry(entry_id: str, fields: Mapping[bytes, bytes]) -> EventRow:
    """The row of the stream entry ``entry_id`` (fields as Redis returns them);
    :class:`InvalidEntry` naming the entry and the first thing wrong with it."""
    try:
        values = (fields[b"event_id"], fields[b"type"], fields[b"occurred_at"])
    except KeyError as exc:
        raise InvalidEntry(entry_id, f"it has no {exc.args[0].decode()} field") from None
    return _row(
        entry_id, (*values, fields.get(b"account_id", b""), fields.get(b"post_id", b""), fields.get(b"data", b"{}"))
    )


def row_from_flat(entry_id: str, flat: Sequence[bytes]) -> EventRow:
    """:func:`row_from_entry` of the field list ``[name, value, …]`` of a raw Redis reply; the
    relay's field order (``Event.to_fields``) is read by position, any other through a dict."""
    if len(flat) == 12 and tuple(flat[0::2]) == _FIELD_ORDER:
        return _row(entry_id, flat[1::2])
    return row_from_entry(entry_id, dict(zip(flat[0::2], flat[1::2], strict=False)))


_FIELD_ORDER = (b"event_id", b"type", b"occurred_at", b"account_id", b"post_id", b"data")


def _row(entry_id: str, values: Sequence[bytes]) -> EventRow:
    """The row of ``values``: event_id, type, occurred_at, account_id, post_id, data."""
    event_id_b, kind_b, occurred_b, account_b, post_b, data = values
    try:
        event_id = event_id_b.decode()
        kind = kind_b.decode()
        occurred = occurred_b.decode()
        account = account_b.decode()
        post = post_b.decode()
        properties = data.decode()
    except UnicodeDecodeError as exc:
        raise InvalidEntry(entry_id, f"a field is not UTF-8 ({exc.reason})") from None
    if not _ID.fullmatch(event_id):
        raise InvalidEntry(entry_id, f"event_id {event_id[:64]!r} is not a ULID")
    needs_post = _TYPES.get(kind)
    if needs_post is None:
        raise InvalidEntry(entry_id, f"type {kind[:64]!r} is not an event type")
    try:
        seconds = float(occurred)
    except ValueError:
        raise InvalidEntry(entry_id, f"occurred_at {occurred[:64]!r} is not a number of seconds") from None
    if not (0 < seconds < 253_402_300_800):  # before year 10000; NaN fails too
        raise InvalidEntry(entry_id, f"occurred_at {occurred[:64]!r} is not a time")
    if account and not _ID.fullmatch(account):
        raise InvalidEntry(entry_id, f"account_id {account[:64]!r} is not a ULID")
    if post:
        if not _ID.fullmatch(post):
            raise InvalidEntry(entry_id, f"post_id {post[:64]!r} is not a ULID")
    elif needs_post:
        raise InvalidEntry(entry_id, f"a {kind} event names no post_id")
    if len(data) > _MAX_PROPERTIES_BYTES:
        raise InvalidEntry(entry_id, f"data is {len(data)} bytes, more than {_MAX_PROPERTIES_BYTES}")
    if data[:1] != b"{" or data[-1:] != b"}":  # cheap first: most bad data ends here
        raise InvalidEntry(entry_id, f"data {data[:64]!r} is not a JSON object")
    if data != b"{}":
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InvalidEntry(entry_id, f"data is not JSON ({exc})") from None
    return EventRow(event_id, kind, round(seconds * 1_000_000), account or None, post or None, properties)


@dataclass(slots=True)
class EventColumns:
    """Rows kept column by column (and the stream entry each came from), ready for Arrow."""

    entry_ids: list[str] = field(default_factory=list)
    event_id: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    occurred_at_us: list[int] = field(default_factory=list)
    account_id: list[str | None] = field(default_factory=list)
    post_id: list[str | None] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event_id)

    def add(self, entry_id: str, row: EventRow) -> None:
        self.entry_ids.append(entry_id)
        self.event_id.append(row.event_id)
        self.type.append(row.type)
        self.occurred_at_us.append(row.occurred_at_us)
        self.account_id.append(row.account_id)
        self.post_id.append(row.post_id)
        self.properties.append(row.properties)

    def keep(self, indices: list[int]) -> EventColumns:
        """The rows at ``indices``, in that order."""
        out = EventColumns()
        for name in EventColumns.__slots__:
            column = getattr(self, name)
            setattr(out, name, [column[i] for i in indices])
        return out

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table of :data:`~darkroom.analytics.tables.EVENTS_ARROW`."""
        return pa.Table.from_arrays(
            [
                pa.array(self.event_id, pa.large_string()),
                pa.array(self.type, pa.large_string()),
                pa.array(self.occurred_at_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                pa.array(self.account_id, pa.large_string()),
                pa.array(self.post_id, pa.large_string()),
                pa.array(self.properties, pa.large_string()),
            ],
            schema=EVENTS_ARROW,
        )
