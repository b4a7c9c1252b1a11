"""Contract: queue lifecycle and settings (runs against every client through ``q``)."""

from __future__ import annotations

from typing import Any

import pytest

import darkroom.queue as dq


def test_create_returns_settings_and_is_idempotent(q: Any) -> None:
    info = q.create_queue("encode", lease_s=12, max_attempts=4, indexed_keys=["codec"])
    assert (info.name, info.lease_s, info.max_attempts, info.indexed_keys) == ("encode", 12.0, 4, ("codec",))
    assert not info.exclusive
    assert q.create_queue("encode", lease_s=12, max_attempts=4, indexed_keys=["codec"]) == info


def test_create_with_other_settings_conflicts(q: Any) -> None:
    q.create_queue("encode", lease_s=12)
    with pytest.raises(dq.Conflict, match="lease_ms"):
        q.create_queue("encode", lease_s=13)


def test_exclusive_queue_settings(q: Any) -> None:
    info = q.create_queue("assets", exclusivity_key="asset", exclusivity_limit=2)
    assert info.exclusive
    assert (info.exclusivity_key, info.exclusivity_limit) == ("asset", 2)


@pytest.mark.parametrize("name", ["", "Upper", "-lead", "a b", "x" * 101, "a/b", "{tag}", "ü"])
def test_bad_queue_names_are_refused(q: Any, name: str) -> None:
    with pytest.raises(dq.InvalidArgument) as err:
        q.create_queue(name)
    assert err.value.field == "queue"
    assert repr(name)[:40] in str(err.value), "the error names the value (cut short when long)"


def test_unknown_queue(q: Any) -> None:
    with pytest.raises(dq.QueueNotFound, match="nope"):
        q.get_queue("nope")
    with pytest.raises(dq.QueueNotFound):
        q.enqueue("nope", b"x")
    with pytest.raises(dq.QueueNotFound):
        q.dequeue("nope")
    with pytest.raises(dq.QueueNotFound):
        q.count("nope")


def test_list_update_delete(q: Any) -> None:
    q.create_queue("b")
    q.create_queue("a")
    assert [i.name for i in q.list_queues()] == ["a", "b"]
    info = q.update_queue("a", lease_s=5, max_attempts=9)
    assert (info.lease_s, info.max_attempts) == (5.0, 9)
    q.enqueue("a", b"x")
    assert q.delete_queue("a") is True
    assert [i.name for i in q.list_queues()] == ["b"]
    with pytest.raises(dq.QueueNotFound):
        q.count("a")
    q.create_queue("a")
    assert q.count("a") == 0, "a recreated queue starts empty"


def test_pause_keeps_enqueue_and_stops_dequeue(q: Any) -> None:
    q.create_queue("encode")
    q.pause("encode")
    assert q.get_queue("encode").paused
    mid = q.enqueue("encode", b"x")
    assert q.dequeue("encode") == []
    q.resume("encode")
    (lease,) = q.dequeue("encode")
    assert lease.message.id == mid


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lease_s": 0}, "lease_s"),
        ({"lease_s": -1}, "lease_s"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"indexed_keys": ["a", "b", "c", "d", "e"]}, "indexed_keys"),
        ({"indexed_keys": ["bad key"]}, "indexed_keys"),
        ({"exclusivity_key": "asset", "exclusivity_limit": 0}, "exclusivity_limit"),
        ({"max_payload_bytes": 1 << 40}, "max_payload_bytes"),
    ],
)
def test_bad_settings_name_the_field(q: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(dq.InvalidArgument) as err:
        q.create_queue("encode", **kwargs)
    assert err.value.field == field
    with pytest.raises(dq.QueueNotFound):
        q.get_queue("encode")
