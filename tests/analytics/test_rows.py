"""Stream entries to ``darkroom.events`` rows: every event type, and malformed entries."""

from __future__ import annotations

import pyarrow as pa
import pytest

from darkroom.analytics import EventColumns, InvalidEntry, row_from_entry
from darkroom.analytics.rows import NEEDS_POST, relay_chunk, row_from_flat
from darkroom.analytics.tables import EVENTS_ARROW
from darkroom.social.events import EventType
from darkroom.social.ids import new_id
from tests.analytics.conftest import encoded, make_event

# The issue's names: each must be a type the outbox emits.
ISSUE_TYPES = [
    "account.created",
    "account.followed",
    "account.unfollowed",
    "account.blocked",
    "post.created",
    "post.ready",
    "post.deleted",
    "post.viewed",
    "post.liked",
    "post.unliked",
    "comment.created",
    "comment.deleted",
]


def test_the_issues_event_names_are_the_outboxs() -> None:
    assert set(ISSUE_TYPES) <= {str(t) for t in EventType}


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_every_event_type_maps_to_a_row(kind: EventType) -> None:
    event = make_event(kind, data={"followee_id": new_id(), "position": 3})
    row = row_from_entry("1-0", encoded(event.to_fields()))
    assert row.event_id == event.event_id
    assert row.type == str(kind)
    assert row.occurred_at_us == round(event.occurred_at * 1_000_000)
    assert row.account_id == event.account_id
    assert row.post_id == event.post_id
    assert (row.post_id is not None) == (kind in NEEDS_POST)
    assert row.properties.startswith("{") and '"position":3' in row.properties


def test_an_account_event_may_name_no_account_and_no_data() -> None:
    fields = make_event(EventType.ACCOUNT_CREATED).to_fields() | {"account_id": ""}
    del fields["data"]
    row = row_from_entry("1-0", encoded(fields))
    assert (row.account_id, row.post_id, row.properties) == (None, None, "{}")


GOOD = make_event(EventType.POST_LIKED).to_fields()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_id": None}, "no event_id field"),
        ({"event_id": "not-an-id"}, "event_id 'not-an-id' is not a ULID"),
        ({"type": "post.shared"}, "type 'post.shared' is not an event type"),
        ({"occurred_at": "yesterday"}, "occurred_at 'yesterday' is not a number"),
        ({"occurred_at": "nan"}, "occurred_at 'nan' is not a time"),
        ({"occurred_at": "-5"}, "occurred_at '-5' is not a time"),
        ({"account_id": "bob"}, "account_id 'bob' is not a ULID"),
        ({"post_id": ""}, "a post.liked event names no post_id"),
        ({"post_id": "x" * 26}, "is not a ULID"),
        ({"data": "[1, 2]"}, "is not a JSON object"),
        ({"data": '{"a": }'}, "data is not JSON"),
    ],
)
def test_a_malformed_entry_is_a_typed_error_naming_it(change: dict[str, str | None], reason: str) -> None:
    fields = {k: v for k, v in (GOOD | change).items() if v is not None}
    with pytest.raises(InvalidEntry, match=reason) as caught:
        row_from_entry("1700000000000-7", encoded(fields))  # type: ignore[arg-type]
    assert caught.value.entry_id == "1700000000000-7"
    assert "'1700000000000-7'" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_field_that_is_not_utf8_is_malformed() -> None:
    fields = encoded(GOOD) | {b"type": b"\xff\xfe"}
    with pytest.raises(InvalidEntry, match="not UTF-8"):
        row_from_entry("2-0", fields)


def test_columns_build_an_arrow_table_of_the_events_schema() -> None:
    columns = EventColumns()
    events = [make_event(kind) for kind in (EventType.POST_VIEWED, EventType.ACCOUNT_FOLLOWED)]
    for i, event in enumerate(events):
        columns.add(f"{i}-0", row_from_entry(f"{i}-0", encoded(event.to_fields())))
    table = columns.to_arrow()
    assert table.schema == EVENTS_ARROW
    assert table.column("event_id").to_pylist() == [e.event_id for e in events]
    assert table.column("post_id").to_pylist() == [events[0].post_id, None]
    assert table.column("occurred_at").type == pa.timestamp("us", tz="UTC")
    kept = columns.keep([1])
    assert (kept.entry_ids, kept.event_id) == (["1-0"], [events[1].event_id])


def test_a_raw_field_list_is_read_by_position_or_by_name() -> None:
    event = make_event(EventType.COMMENT_CREATED)
    fields = event.to_fields()
    flat = [x.encode() for kv in fields.items() for x in kv]
    shuffled = [x.encode() for kv in reversed(list(fields.items())) for x in kv]
    assert row_from_flat("1-0", flat) == row_from_flat("1-0", shuffled) == row_from_entry("1-0", encoded(fields))
    with pytest.raises(InvalidEntry, match="no event_id field"):
        row_from_flat("1-0", flat[2:])


@pytest.mark.parametrize("kind", ["step.finished", "workflow.finished"])
def test_the_workflow_engines_event_types_are_rows_without_a_post(kind: str) -> None:
    fields = GOOD | {"type": kind, "post_id": "", "data": '{"workflow": "video", "priority": "batch"}'}
    row = row_from_entry("1700000000000-8", encoded(fields))
    assert (row.type, row.post_id) == (kind, None)


def _raw(events: list[dict[str, str]]) -> list[tuple[bytes, list[bytes]]]:
    """Entries as a raw XRANGE reply holds them."""
    return [(f"{i + 1}-0".encode(), [x.encode() for kv in f.items() for x in kv]) for i, f in enumerate(events)]


def test_a_chunk_of_relay_entries_is_parsed_column_wise_to_the_same_rows() -> None:
    fields = [make_event(kind).to_fields() for kind in EventType]
    # times that round differently: a half microsecond, and many digits
    fields[0] |= {"occurred_at": "1700000000.0000005"}
    fields[1] |= {"occurred_at": "1700000000.1234567891"}
    fields[2] |= {"data": '{"emoji": "\\u00e9 ok", "n": [1, 2]}'}
    entries = _raw(fields)
    chunk = relay_chunk(entries)
    assert chunk is not None
    one_by_one = EventColumns()
    for entry_id, flat in entries:
        one_by_one.add(entry_id.decode(), row_from_flat(entry_id.decode(), flat))
    assert chunk.entry_ids == one_by_one.entry_ids
    assert chunk.event_ids == one_by_one.event_id
    assert chunk.table.equals(one_by_one.to_arrow())


@pytest.mark.parametrize(
    "change",
    [
        {"type": "post.shared"},
        {"event_id": "not-a-ulid"},
        {"occurred_at": "1e9"},  # float() reads it: the row-by-row path decides
        {"occurred_at": "0"},
        {"post_id": ""},
        {"account_id": "x"},
        {"data": "{nope}"},
    ],
)
def test_a_chunk_with_any_entry_not_plainly_good_is_left_to_the_row_by_row_path(change: dict[str, str]) -> None:
    fields = [make_event().to_fields() for _ in range(3)]
    fields[1] |= change
    assert relay_chunk(_raw(fields)) is None
    assert relay_chunk(_raw([fields[0], fields[2]])) is not None
    reordered = dict(reversed(list(fields[0].items())))
    assert relay_chunk(_raw([reordered])) is None


def test_a_chunk_with_bytes_that_are_not_utf8_or_a_deleted_entry_is_left_to_the_row_by_row_path() -> None:
    entries = _raw([make_event().to_fields() for _ in range(2)])
    assert relay_chunk(entries) is not None
    entries[1][1][11] = b'{"a": "\xff"}'
    assert relay_chunk(entries) is None
    assert relay_chunk([entries[0], (b"3-0", None)]) is None
