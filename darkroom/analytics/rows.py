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
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from darkroom.analytics.errors import InvalidEntry
from darkroom.analytics.tables import EVENTS_ARROW
from darkroom.social.events import EventType

__all__ = [
    "NEEDS_POST",
    "RUNTIME_TYPES",
    "EventColumns",
    "EventRow",
    "RelayChunk",
    "relay_chunk",
    "row_from_entry",
    "row_from_flat",
]

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


class RelayChunk(NamedTuple):
    """Entries parsed column-wise by :func:`relay_chunk`: their ids, their event ids, their rows."""

    entry_ids: list[str]
    event_ids: list[str]
    table: pa.Table  # of EVENTS_ARROW


# Stream entry = [id, [name, value, …]]; the relay's entries have its six fields in its order.
_NAMES = itemgetter(0, 2, 4, 6, 8, 10)
_VALUES = itemgetter(1, 3, 5, 7, 9, 11)
_ULID_RE = "^[0-9A-HJKMNP-TV-Z]{26}$"  # as _ID (RE2 syntax; `$` is the end of the text)
_ULID_OR_EMPTY_RE = "^([0-9A-HJKMNP-TV-Z]{26})?$"
# What repr(float) writes for a time: digits, a point, digits (Python's float() accepts more, e.g.
# "1e9", " 5", "1_0": such entries take the row-by-row path, which decides as before).
_SECONDS_RE = r"^[0-9]{1,12}(\.[0-9]{1,20})?$"
_TYPE_SET = pa.array(sorted(_TYPES), pa.binary())
_POST_TYPE_SET = pa.array(sorted(t for t, needs in _TYPES.items() if needs), pa.binary())


def relay_chunk(entries: Sequence[tuple[bytes, Sequence[bytes] | None]]) -> RelayChunk | None:
    """Rows of ``entries`` (a raw Redis reply's ``[id, fields]`` pairs, stream order), built a
    column at a time: the checks of :func:`row_from_flat` run as Arrow kernels over each column and
    no Python object is made per field. None when any entry is not in the relay's field order or
    fails a check: the caller then reads the entries one by one (:func:`row_from_flat`), which
    names the bad ones; a chunk this accepts gives the rows that would have given."""
    n = len(entries)
    if not n:
        return None
    flats: list[Any] = [flat for _, flat in entries]  # None (a deleted entry) fails below
    try:
        if list(map(len, flats)).count(12) != n or list(map(_NAMES, flats)).count(_FIELD_ORDER) != n:
            return None
    except TypeError:  # a deleted entry (None)
        return None
    columns = list(zip(*map(_VALUES, flats), strict=True))
    event_b, kind_b, occurred_b, account_b, post_b, data_b = (pa.array(c, pa.binary()) for c in columns)
    ok = pc.and_(pc.match_substring_regex(event_b, _ULID_RE), pc.is_in(kind_b, value_set=_TYPE_SET))
    ok = pc.and_(ok, pc.match_substring_regex(occurred_b, _SECONDS_RE))
    ok = pc.and_(ok, pc.match_substring_regex(account_b, _ULID_OR_EMPTY_RE))
    ok = pc.and_(ok, pc.match_substring_regex(post_b, _ULID_OR_EMPTY_RE))
    no_post = pc.equal(pc.binary_length(post_b), 0)
    ok = pc.and_(ok, pc.invert(pc.and_(no_post, pc.is_in(kind_b, value_set=_POST_TYPE_SET))))
    ok = pc.and_(ok, pc.less_equal(pc.binary_length(data_b), _MAX_PROPERTIES_BYTES))
    ok = pc.and_(ok, pc.starts_with(data_b, "{"))
    ok = pc.and_(ok, pc.ends_with(data_b, "}"))
    if not pc.all(ok).as_py():
        return None
    seconds = pc.cast(occurred_b.cast(pa.string()), pa.float64())
    if not pc.all(pc.and_(pc.greater(seconds, 0), pc.less(seconds, 253_402_300_800))).as_py():
        return None
    try:
        properties = data_b.cast(pa.string())  # checks UTF-8; the ids and types are ASCII by now
        deque(map(orjson.loads, columns[5]), maxlen=0)  # each one is a JSON object
    except (pa.ArrowInvalid, orjson.JSONDecodeError):
        return None
    # round(seconds * 1e6), half to even, as row_from_flat's round()
    micros = pc.round(pc.multiply(seconds, 1_000_000.0), round_mode="half_to_even").cast(pa.int64())
    null = pa.scalar(None, pa.large_string())
    account = account_b.cast(pa.large_string())
    post = post_b.cast(pa.large_string())
    table = pa.Table.from_arrays(
        [
            event_b.cast(pa.large_string()),
            kind_b.cast(pa.large_string()),
            micros.cast(pa.timestamp("us", tz="UTC")),
            pc.if_else(pc.equal(pc.binary_length(account_b), 0), null, account),
            pc.if_else(no_post, null, post),
            properties.cast(pa.large_string()),
        ],
        schema=EVENTS_ARROW,
    )
    entry_ids = list(map(bytes.decode, (entry_id for entry_id, _ in entries)))
    return RelayChunk(entry_ids, event_b.cast(pa.string()).to_pylist(), table)


@dataclass(slots=True)
class EventColumns:
    """Rows (and the stream entry each came from), kept as Arrow chunks ready for one table; rows
    added one at a time wait in a list until the next chunk or :meth:`to_arrow`."""

    entry_ids: list[str] = field(default_factory=list)
    event_id: list[str] = field(default_factory=list)
    _chunks: list[pa.Table] = field(default_factory=list)
    _rows: list[EventRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event_id)

    def add(self, entry_id: str, row: EventRow) -> None:
        self.entry_ids.append(entry_id)
        self.event_id.append(row.event_id)
        self._rows.append(row)

    def extend(self, chunk: RelayChunk) -> None:
        """Add the rows of ``chunk`` after those added before."""
        self._flush()
        self.entry_ids += chunk.entry_ids
        self.event_id += chunk.event_ids
        self._chunks.append(chunk.table)

    def keep(self, indices: list[int]) -> EventColumns:
        """The rows at ``indices``, in that order."""
        out = EventColumns([self.entry_ids[i] for i in indices], [self.event_id[i] for i in indices])
        out._chunks.append(self.to_arrow().take(pa.array(indices, pa.int64())))
        return out

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table of :data:`~darkroom.analytics.tables.EVENTS_ARROW`."""
        self._flush()
        if not self._chunks:
            return EVENTS_ARROW.empty_table()
        return self._chunks[0] if len(self._chunks) == 1 else pa.concat_tables(self._chunks)

    def _flush(self) -> None:
        if not self._rows:
            return
        rows = self._rows
        self._chunks.append(
            pa.Table.from_arrays(
                [
                    pa.array([r.event_id for r in rows], pa.large_string()),
                    pa.array([r.type for r in rows], pa.large_string()),
                    pa.array([r.occurred_at_us for r in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                    pa.array([r.account_id for r in rows], pa.large_string()),
                    pa.array([r.post_id for r in rows], pa.large_string()),
                    pa.array([r.properties for r in rows], pa.large_string()),
                ],
                schema=EVENTS_ARROW,
            )
        )
        self._rows = []
