"""Contract: message transitions, leases, ordering and errors (every client, through ``q``; time
passes through ``wait_past``, on the backend's own clock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import darkroom.queue as dq

S = dq.State


@pytest.fixture
def enc(q: Any) -> Any:
    q.create_queue("encode", lease_s=30, max_attempts=3, indexed_keys=["codec", "cpu"])
    return q


def served(q: Any, queue: str, n: int = 100, **kw: Any) -> list[str]:
    return [lease.message.id for lease in q.dequeue(queue, max_messages=n, **kw)]


# -- enqueue -------------------------------------------------------------------------------------
def test_enqueue_defaults(enc: Any) -> None:
    mid = enc.enqueue("encode", b"p", metadata={"codec": "h264"})
    m = enc.get("encode", mid)
    assert (m.state, m.attempts, m.max_attempts, m.payload, m.metadata) == (S.PENDING, 0, 3, b"p", {"codec": "h264"})
    assert m.deadline == m.created_at, "the deadline defaults to the enqueue time"
    assert len(mid) == 26, "generated ids are ULIDs"


def test_enqueue_accepts_datetime_deadline_and_own_id(enc: Any) -> None:
    enc.enqueue("encode", b"", id="job-1", deadline=datetime(2030, 1, 1, tzinfo=UTC), max_attempts=7)
    m = enc.get("encode", "job-1")
    assert m.deadline == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert m.max_attempts == 7


def test_enqueue_is_idempotent_by_id(enc: Any) -> None:
    a = enc.enqueue("encode", b"same", id="x1", metadata={"codec": "h264"}, deadline=5)
    b = enc.enqueue("encode", b"same", id="x1", metadata={"codec": "h264"}, deadline=5)
    assert a == b == "x1"
    assert enc.count("encode") == 1


def test_same_id_other_content_conflicts_and_refuses_the_whole_batch(enc: Any) -> None:
    enc.enqueue("encode", b"one", id="x1")
    batch = [dq.NewMessage(b"fresh", id="x2"), dq.NewMessage(b"two", id="x1")]
    with pytest.raises(dq.Conflict, match="x1"):
        enc.enqueue_many("encode", batch)
    assert enc.count("encode") == 1, "nothing of a refused batch is written"
    with pytest.raises(dq.MessageNotFound):
        enc.get("encode", "x2")


def test_enqueue_many_in_order(enc: Any) -> None:
    ids = enc.enqueue_many("encode", [dq.NewMessage(str(i).encode(), deadline=10) for i in range(5)])
    assert served(enc, "encode") == ids, "equal deadlines are served in enqueue order"


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"id": "bad id"}, dq.InvalidMessage, "id"),
        ({"id": "x" * 129}, dq.InvalidMessage, "id"),
        ({"metadata": {"bad key": "v"}}, dq.InvalidMessage, "metadata"),
        ({"metadata": {"k": "v" * 257}}, dq.InvalidMessage, "metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(33)}}, dq.InvalidMessage, "metadata"),
        ({"deadline": float("nan")}, dq.InvalidMessage, "deadline"),
        ({"deadline": -1}, dq.InvalidMessage, "deadline"),
        ({"deadline": datetime(2030, 1, 1)}, dq.InvalidMessage, "deadline"),
        ({"delay_s": -1}, dq.InvalidArgument, "delay_s"),
        ({"max_attempts": 0}, dq.InvalidArgument, "max_attempts"),
    ],
)
def test_bad_messages_name_the_field(enc: Any, kwargs: dict[str, Any], error: type, field: str) -> None:
    with pytest.raises(error) as err:
        enc.enqueue("encode", b"", **kwargs)
    assert err.value.field == field
    assert enc.count("encode") == 0


def test_payload_limits(enc: Any) -> None:
    with pytest.raises(dq.PayloadTooLarge) as err:
        enc.enqueue("encode", b"x" * ((1 << 20) + 1))
    assert err.value.field == "payload"
    enc.create_queue("tiny", max_payload_bytes=4)
    enc.enqueue("tiny", b"1234")
    with pytest.raises(dq.PayloadTooLarge, match="5 bytes"):
        enc.enqueue("tiny", b"12345")


def test_exclusive_message_needs_its_value(q: Any) -> None:
    q.create_queue("assets", exclusivity_key="asset")
    with pytest.raises(dq.InvalidMessage, match="asset"):
        q.enqueue("assets", b"", metadata={"other": "1"})
    assert q.count("assets") == 0


# -- dequeue order and criteria ----------------------------------------------------------------------
def test_earliest_deadline_first_with_ties_in_enqueue_order(enc: Any) -> None:
    late = enc.enqueue("encode", b"", deadline=300)
    first = enc.enqueue("encode", b"", deadline=100)
    tie_a = enc.enqueue("encode", b"", deadline=200)
    tie_b = enc.enqueue("encode", b"", deadline=200)
    assert served(enc, "encode", 2) == [first, tie_a]
    assert served(enc, "encode") == [tie_b, late]
    assert served(enc, "encode") == []


def test_where_serves_only_matching_in_edf_order(enc: Any) -> None:
    h2 = enc.enqueue("encode", b"", deadline=2, metadata={"codec": "h264", "cpu": "2"})
    vp = enc.enqueue("encode", b"", deadline=1, metadata={"codec": "vp9", "cpu": "2"})
    h1 = enc.enqueue("encode", b"", deadline=3, metadata={"codec": "h264"})
    assert served(enc, "encode", where={"codec": "h264", "cpu": "2"}) == [h2]
    assert served(enc, "encode", where={"codec": "h264"}) == [h1]
    assert served(enc, "encode", where={"codec": "h264"}) == []
    assert served(enc, "encode") == [vp]


def test_where_on_an_unindexed_key_is_refused(enc: Any) -> None:
    with pytest.raises(dq.InvalidCriteria, match="gpu") as err:
        enc.dequeue("encode", where={"gpu": "1"})
    assert err.value.field == "where"


def test_dequeue_batches_and_read_masks(enc: Any) -> None:
    enc.enqueue_many("encode", [dq.NewMessage(b"payload", metadata={"codec": "av1"}) for _ in range(5)])
    leases = enc.dequeue("encode", max_messages=3, fields=["metadata"])
    assert len(leases) == 3
    for lease in leases:
        assert lease.message.metadata == {"codec": "av1"}
        assert lease.message.payload == b"", "a field outside the read mask is not loaded"
    with pytest.raises(dq.InvalidArgument, match="nope"):
        enc.dequeue("encode", fields=["nope"])
    with pytest.raises(dq.InvalidArgument) as err:
        enc.dequeue("encode", max_messages=0)
    assert err.value.field == "max_messages"


# -- leases ------------------------------------------------------------------------------------------
def test_complete_records_result_and_ends_the_lease(enc: Any) -> None:
    mid = enc.enqueue("encode", b"")
    (lease,) = enc.dequeue("encode")
    assert lease.message.state == S.RUNNING and lease.message.attempts == 1
    enc.complete(lease, b"out")
    m = enc.get("encode", mid)
    assert (m.state, m.result, m.lease_expires_at) == (S.COMPLETED, b"out", None)
    enc.complete(lease, b"out")  # a retried completion (lost reply) is harmless
    with pytest.raises(dq.LeaseLost):
        enc.fail(lease, "late")
    assert enc.get("encode", mid).state == S.COMPLETED


def test_complete_many(enc: Any) -> None:
    enc.enqueue_many("encode", [dq.NewMessage() for _ in range(3)])
    leases = enc.dequeue("encode", max_messages=3)
    enc.cancel("encode", leases[0].message.id)
    assert enc.complete_many(leases, [b"a", b"b", b"c"]) == [False, True, True]
    assert enc.count("encode", dq.State.COMPLETED) == 2


def test_fail_retries_until_attempts_run_out(enc: Any) -> None:
    mid = enc.enqueue("encode", b"")
    for attempt in (1, 2):
        (lease,) = enc.dequeue("encode")
        assert lease.message.attempts == attempt
        enc.fail(lease, f"boom {attempt}")
        m = enc.get("encode", mid)
        assert (m.state, m.last_error) == (S.PENDING, f"boom {attempt}")
    (lease,) = enc.dequeue("encode")
    enc.fail(lease, "boom 3")
    m = enc.get("encode", mid)
    assert (m.state, m.attempts, m.last_error) == (S.ERRORED, 3, "boom 3")


def test_fail_without_retry_and_with_a_delay(enc: Any) -> None:
    a = enc.enqueue("encode", b"", deadline=1)
    b = enc.enqueue("encode", b"", deadline=2)
    la, lb = enc.dequeue("encode", max_messages=2)
    enc.fail(la, "fatal", retry=False)
    enc.fail(lb, "later", retry_in_s=3600)
    assert enc.get("encode", a).state == S.ERRORED
    m = enc.get("encode", b)
    assert m.state == S.INVISIBLE and m.visible_at is not None
    assert enc.dequeue("encode") == []


def test_expired_lease_returns_and_the_stale_token_is_refused(enc: Any, wait_past: Callable[[float], None]) -> None:
    mid = enc.enqueue("encode", b"")
    (stale,) = enc.dequeue("encode", lease_s=0.05)
    wait_past(stale.expires_at)
    (fresh,) = enc.dequeue("encode")
    assert fresh.message.id == mid and fresh.message.attempts == 2
    assert fresh.token != stale.token
    with pytest.raises(dq.LeaseLost):
        enc.complete(stale)
    with pytest.raises(dq.LeaseLost):
        enc.extend(stale, lease_s=30)
    assert enc.get("encode", mid).state == S.RUNNING, "a refused call changes nothing"
    enc.complete(fresh)
    assert enc.get("encode", mid).state == S.COMPLETED


def test_expiry_after_the_last_attempt_errors(q: Any, wait_past: Callable[[float], None]) -> None:
    q.create_queue("once", max_attempts=1)
    mid = q.enqueue("once", b"")
    (lease,) = q.dequeue("once", lease_s=0.05)
    wait_past(lease.expires_at)
    assert q.sweep("once").moved == 1
    m = q.get("once", mid)
    assert (m.state, m.last_error) == (S.ERRORED, "lease expired")


def test_extend_keeps_the_lease(enc: Any, wait_past: Callable[[float], None]) -> None:
    enc.enqueue("encode", b"")
    (lease,) = enc.dequeue("encode", lease_s=0.05)
    first = lease.expires_at
    enc.extend(lease, lease_s=60)
    assert lease.expires_at > first
    wait_past(first)
    assert enc.dequeue("encode") == []
    enc.complete(lease)


def test_a_lease_expired_but_not_yet_swept_is_lost(enc: Any, wait_past: Callable[[float], None]) -> None:
    mid = enc.enqueue("encode", b"")
    (lease,) = enc.dequeue("encode", lease_s=0.05)
    wait_past(lease.expires_at)
    with pytest.raises(dq.LeaseLost):
        enc.complete(lease)
    assert enc.get("encode", mid).state == S.PENDING


# -- cancel, redrive, update -------------------------------------------------------------------------
def test_cancel_in_every_unfinished_state(enc: Any) -> None:
    pending = enc.enqueue("encode", b"", deadline=2)
    invisible = enc.enqueue("encode", b"", delay_s=3600)
    running_id = enc.enqueue("encode", b"", deadline=1)
    (running,) = enc.dequeue("encode")
    assert running.message.id == running_id
    for mid in (pending, invisible, running_id):
        assert enc.cancel("encode", mid) is True
        assert enc.get("encode", mid).state == S.CANCELED
    assert enc.cancel("encode", pending) is False, "canceling twice is a no-op"
    with pytest.raises(dq.LeaseLost):
        enc.complete(running)
    assert enc.dequeue("encode") == []


def test_cancel_finished_conflicts(enc: Any) -> None:
    mid = enc.enqueue("encode", b"")
    enc.complete(enc.dequeue("encode")[0])
    with pytest.raises(dq.Conflict, match="completed"):
        enc.cancel("encode", mid)
    with pytest.raises(dq.MessageNotFound):
        enc.cancel("encode", "missing")


def test_redrive_errored_only(enc: Any) -> None:
    mid = enc.enqueue("encode", b"")
    with pytest.raises(dq.Conflict, match="pending"):
        enc.redrive("encode", mid)
    enc.fail(enc.dequeue("encode")[0], "fatal", retry=False)
    enc.redrive("encode", mid)
    m = enc.get("encode", mid)
    assert (m.state, m.attempts) == (S.PENDING, 0)
    assert served(enc, "encode") == [mid]


def test_update_changes_order_criteria_and_visibility(enc: Any) -> None:
    a = enc.enqueue("encode", b"a", deadline=1, metadata={"codec": "h264"})
    b = enc.enqueue("encode", b"b", deadline=2)
    c = enc.enqueue("encode", b"c", delay_s=3600)
    enc.update("encode", a, deadline=3)
    enc.update("encode", b, metadata={"codec": "h264"}, payload=b"B")
    m = enc.get("encode", b)
    assert (m.payload, m.metadata, m.deadline) == (b"B", {"codec": "h264"}, 2.0), "only given fields change"
    assert served(enc, "encode", 1, where={"codec": "h264"}) == [b]
    enc.update("encode", c, delay_s=None, deadline=0)
    assert enc.get("encode", c).state == S.PENDING
    assert served(enc, "encode") == [c, a]


def test_update_of_a_running_message_conflicts(enc: Any) -> None:
    mid = enc.enqueue("encode", b"")
    enc.dequeue("encode")
    with pytest.raises(dq.Conflict, match="running"):
        enc.update("encode", mid, deadline=5)
    with pytest.raises(dq.InvalidArgument):
        enc.update("encode", mid)


# -- reads -------------------------------------------------------------------------------------------
def test_get_errors(enc: Any) -> None:
    with pytest.raises(dq.MessageNotFound, match="missing"):
        enc.get("encode", "missing")
    with pytest.raises(dq.QueueNotFound):
        enc.get("nope", "missing")


def test_query_pages_through_states_and_criteria(enc: Any) -> None:
    ids = enc.enqueue_many(
        "encode", [dq.NewMessage(metadata={"codec": "h264" if i % 2 else "vp9"}, deadline=i) for i in range(25)]
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = enc.query("encode", state=S.PENDING, limit=10, cursor=cursor)
        seen += [m.id for m in page.messages]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids
    h264 = enc.query("encode", where={"codec": "h264"}, limit=100, fields=["metadata"])
    assert [m.id for m in h264.messages] == ids[1::2]
    assert all(m.payload == b"" and m.metadata == {"codec": "h264"} for m in h264.messages)
    with pytest.raises(dq.InvalidArgument, match="cursor"):
        enc.query("encode", cursor="garbage!")


def test_query_without_state_walks_every_state(enc: Any) -> None:
    ids = enc.enqueue_many("encode", [dq.NewMessage(deadline=i) for i in range(4)])
    enc.complete(enc.dequeue("encode")[0])
    everything = []
    cursor = None
    while True:
        page = enc.query("encode", limit=1, cursor=cursor)
        everything += page.messages
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(m.id for m in everything) == sorted(ids)
    assert [m.state for m in everything] == [S.PENDING, S.PENDING, S.PENDING, S.COMPLETED]


def test_count_and_stats(enc: Any) -> None:
    enc.enqueue_many("encode", [dq.NewMessage(deadline=i) for i in range(3)])
    enc.enqueue("encode", b"", delay_s=3600)
    enc.dequeue("encode")
    assert enc.count("encode") == 4
    assert enc.count("encode", S.PENDING) == 2
    assert enc.count("encode", "invisible") == 1
    stats = enc.stats("encode")
    assert stats.counts[S.RUNNING] == 1
    assert stats.oldest_pending_deadline == 1.0
    with pytest.raises(dq.InvalidArgument, match="bogus"):
        enc.count("encode", "bogus")


def test_purge_after_retention(q: Any) -> None:
    q.create_queue("short", retention_s=0)
    done = q.enqueue("short", b"")
    kept = q.enqueue("short", b"")
    q.complete(q.dequeue("short")[0])
    result = q.sweep("short")
    assert result.purged == 1
    with pytest.raises(dq.MessageNotFound):
        q.get("short", done)
    assert q.get("short", kept).state == S.PENDING
    assert q.enqueue("short", b"again", id=done) == done, "a purged id can be used again"


# -- exclusive queues --------------------------------------------------------------------------------
def test_exclusive_queue_runs_one_per_value(q: Any) -> None:
    q.create_queue("assets", exclusivity_key="asset")
    a1 = q.enqueue("assets", b"", deadline=1, metadata={"asset": "a"})
    a2 = q.enqueue("assets", b"", deadline=2, metadata={"asset": "a"})
    b1 = q.enqueue("assets", b"", deadline=3, metadata={"asset": "b"})
    leases = q.dequeue("assets", max_messages=10)
    assert [lease.message.id for lease in leases] == [a1, b1], "a's second message waits for a's first"
    assert q.stats("assets").running_per_value == {"a": 1, "b": 1}
    assert q.dequeue("assets") == []
    q.complete(leases[0])
    assert served(q, "assets") == [a2]


@pytest.mark.parametrize("release", ["complete", "fail", "cancel", "expire"])
def test_every_ending_releases_the_slot(q: Any, wait_past: Callable[[float], None], release: str) -> None:
    q.create_queue("assets", exclusivity_key="asset", max_attempts=1)
    first = q.enqueue("assets", b"", deadline=1, metadata={"asset": "a"})
    second = q.enqueue("assets", b"", deadline=2, metadata={"asset": "a"})
    (lease,) = q.dequeue("assets", lease_s=0.05 if release == "expire" else 30)
    assert q.dequeue("assets") == []
    if release == "complete":
        q.complete(lease)
    elif release == "fail":
        q.fail(lease, "x")
    elif release == "cancel":
        q.cancel("assets", first)
    else:
        wait_past(lease.expires_at)
    assert served(q, "assets") == [second]


def test_exclusivity_limit_two(q: Any) -> None:
    q.create_queue("assets", exclusivity_key="asset", exclusivity_limit=2)
    ids = q.enqueue_many("assets", [dq.NewMessage(deadline=i, metadata={"asset": "a"}) for i in range(3)])
    assert served(q, "assets") == ids[:2]


def test_exclusive_with_criteria(q: Any) -> None:
    q.create_queue("assets", exclusivity_key="asset", indexed_keys=["codec"])
    a_vp9 = q.enqueue("assets", b"", deadline=1, metadata={"asset": "a", "codec": "vp9"})
    a_h264 = q.enqueue("assets", b"", deadline=2, metadata={"asset": "a", "codec": "h264"})
    b_h264 = q.enqueue("assets", b"", deadline=3, metadata={"asset": "b", "codec": "h264"})
    assert served(q, "assets", 1, where={"codec": "h264"}) == [a_h264]
    assert served(q, "assets", where={"codec": "h264"}) == [b_h264], "asset a is at its limit"
    assert served(q, "assets") == []
    assert q.get("assets", a_vp9).state == S.PENDING


# -- long poll ---------------------------------------------------------------------------------------
def test_long_poll_wakes_on_enqueue(enc: Any, other: Any) -> None:
    got: list[Any] = []
    started = threading.Event()

    def consume() -> None:
        started.set()
        got.extend(enc.dequeue("encode", wait_s=30))

    worker = threading.Thread(target=consume)
    worker.start()
    started.wait(5)
    mid = other.enqueue("encode", b"wake")
    worker.join(20)
    assert not worker.is_alive(), "the waiting dequeue returned"
    assert [lease.message.id for lease in got] == [mid]


def test_long_poll_times_out_empty(enc: Any) -> None:
    assert enc.dequeue("encode", wait_s=0.1) == []
    with pytest.raises(dq.InvalidArgument) as err:
        enc.dequeue("encode", wait_s=-1)
    assert err.value.field == "wait_s"
