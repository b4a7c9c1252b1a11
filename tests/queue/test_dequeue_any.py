"""dequeue_any: one dequeue over several queues (and filters), earliest deadline first across them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

import darkroom.queue as dq
from darkroom.queue.multi import MAX_SOURCES, Source


@pytest.fixture
def q(redis_client: redis.Redis) -> Iterator[dq.RedisQueue]:
    client = dq.RedisQueue(redis_client)
    yield client
    client.close()


def _ids(leases: list[dq.Lease]) -> list[str]:
    return [lease.message.id for lease in leases]


def test_earliest_deadline_first_across_queues(q: dq.RedisQueue) -> None:
    for name in ("a", "b", "c"):
        q.create_queue(name)
    base = time.time() + 3600
    # deadlines interleaved across the queues: a1 < b1 < c1 < a2 < b2 < c2
    for k in range(2):
        for j, name in enumerate(("a", "b", "c")):
            q.enqueue(name, b"x", id=f"{name}{k + 1}", deadline=base + 10 * k + j)
    sources = [Source("c"), Source("a"), Source("b")]
    got = q.dequeue_any(sources, max_messages=4)
    assert _ids(got) == ["a1", "b1", "c1", "a2"]
    assert [lease.queue for lease in got] == ["a", "b", "c", "a"]
    assert all(lease.message.state == "running" for lease in got)
    q.complete(got[0])  # the leases are ordinary ones of their queues
    assert _ids(q.dequeue_any(sources, max_messages=10)) == ["b2", "c2"]
    assert q.dequeue_any(sources, max_messages=10) == []


def test_leases_use_each_source_lease(q: dq.RedisQueue) -> None:
    q.create_queue("a", lease_s=30)
    q.create_queue("b", lease_s=30)
    q.enqueue("a", b"x", id="a1", deadline=1)
    q.enqueue("b", b"x", id="b1", deadline=2)
    got = q.dequeue_any([Source("a", lease_s=5), Source("b")], max_messages=2)
    spans = [lease.expires_at - time.time() for lease in got]
    assert spans[0] < 6
    assert spans[1] > 25


def test_filters_and_exclusivity_hold_across_queues(q: dq.RedisQueue) -> None:
    q.create_queue("enc", indexed_keys=["codec"])
    q.create_queue("wf", exclusivity_key="workflow")
    q.enqueue("enc", b"x", id="av1-late", deadline=5, metadata={"codec": "av1"})
    q.enqueue("enc", b"x", id="h264", deadline=1, metadata={"codec": "h264"})
    q.enqueue("enc", b"x", id="any", deadline=3, metadata={"codec": "*"})
    q.enqueue("wf", b"x", id="w1-a", deadline=2, metadata={"workflow": "w1"})
    q.enqueue("wf", b"x", id="w1-b", deadline=2.5, metadata={"workflow": "w1"})
    q.enqueue("wf", b"x", id="w2-a", deadline=4, metadata={"workflow": "w2"})
    sources = [Source("enc", where={"codec": "av1"}), Source("enc", where={"codec": "*"}), Source("wf")]
    got = q.dequeue_any(sources, max_messages=10)
    # h264 matches no filter; w1-b waits for w1-a (one running message per workflow)
    assert _ids(got) == ["w1-a", "any", "w2-a", "av1-late"]
    q.complete(got[0])
    assert _ids(q.dequeue_any(sources, max_messages=10)) == ["w1-b"]


def test_paused_queue_is_skipped(q: dq.RedisQueue) -> None:
    q.create_queue("a")
    q.create_queue("b")
    q.enqueue("a", b"x", id="a1", deadline=1)
    q.enqueue("b", b"x", id="b1", deadline=2)
    q.pause("a")
    assert _ids(q.dequeue_any([Source("a"), Source("b")], max_messages=5)) == ["b1"]


def test_a_wait_is_woken_by_an_enqueue_on_any_queue(q: dq.RedisQueue, redis_client: redis.Redis) -> None:
    for name in ("a", "b", "c"):
        q.create_queue(name)
    sources = [Source("a"), Source("b"), Source("c")]
    result: list[list[dq.Lease]] = []
    waiting = threading.Event()

    def consume() -> None:
        waiting.set()
        result.append(q.dequeue_any(sources, max_messages=1, wait_s=60))

    t = threading.Thread(target=consume)
    t.start()
    waiting.wait()
    # once the call is registered as a waiter on every queue, an enqueue on the last one wakes it
    for name in ("a", "b", "c"):
        while not redis_client.exists(f"dr:{{{name}}}:waiters"):
            time.sleep(0.001)
    other = dq.RedisQueue(redis.Redis(connection_pool=redis_client.connection_pool))
    other.enqueue("c", b"x", id="c1")
    t.join(timeout=30)
    assert not t.is_alive()
    assert _ids(result[0]) == ["c1"]


def test_limits_and_bad_input(q: dq.RedisQueue) -> None:
    q.create_queue("a")
    q.enqueue_many("a", [dq.NewMessage(b"x", deadline=i) for i in range(1000)])
    many = [Source("a")] * MAX_SOURCES
    assert len(q.dequeue_any(many, max_messages=1000)) == 1000  # both limits at their maximum
    with pytest.raises(dq.InvalidArgument, match="65"):
        q.dequeue_any([Source("a")] * (MAX_SOURCES + 1))
    with pytest.raises(dq.InvalidArgument, match="1001"):
        q.dequeue_any([Source("a")], max_messages=1001)
    with pytest.raises(dq.InvalidArgument, match="sources\\[1\\]"):
        q.dequeue_any([Source("a"), "b", Source("a")])  # type: ignore[list-item]
    # a missing queue or a bad filter in the middle fails the call before anything is leased
    q.enqueue("a", b"x", id="kept")
    with pytest.raises(dq.QueueNotFound, match="nope"):
        q.dequeue_any([Source("a"), Source("nope"), Source("a")], max_messages=5)
    with pytest.raises(dq.InvalidCriteria):
        q.dequeue_any([Source("a"), Source("a", where={"codec": "av1"}), Source("a")], max_messages=5)
    assert q.get("a", "kept").state == "pending"


def test_enqueue_lease_takes_work_in_the_enqueue_call(q: dq.RedisQueue) -> None:
    q.create_queue("steps", indexed_keys=["codec"])
    q.enqueue("steps", b"old", id="older", deadline=1, metadata={"codec": "*"})
    fresh = [dq.NewMessage(b"n", id=f"n{i}", deadline=10 + i, metadata={"codec": "*"}) for i in range(3)]
    got = q.enqueue_lease("steps", fresh, max_messages=2, where={"codec": "*"}, lease_s=5)
    assert got.ids == ["n0", "n1", "n2"]
    assert _ids(got.leases) == ["older", "n0"]  # EDF over the queue, not only what was enqueued
    assert q.get("steps", "n1").state == "pending"
    # idempotent like enqueue: the same ids again enqueue nothing new
    again = q.enqueue_lease("steps", fresh, max_messages=5, where={"codec": "*"})
    assert again.ids == ["n0", "n1", "n2"]
    assert _ids(again.leases) == ["n1", "n2"]


def test_enqueue_lease_checks_everything_before_writing(q: dq.RedisQueue) -> None:
    q.create_queue("steps")
    batch = [dq.NewMessage(b"x", id=f"m{i}") for i in range(1000)]  # the batch limit
    assert len(q.enqueue_lease("steps", batch, max_messages=1000).leases) == 1000
    with pytest.raises(dq.InvalidCriteria):
        q.enqueue_lease("steps", [dq.NewMessage(b"x", id="bad-where")], max_messages=1, where={"codec": "av1"})
    with pytest.raises(dq.InvalidMessage):
        q.enqueue_lease("steps", [dq.NewMessage(b"x", id="a"), "broken", dq.NewMessage(b"x", id="c")], max_messages=1)  # type: ignore[list-item]
    with pytest.raises(dq.Conflict):
        q.enqueue_lease("steps", [dq.NewMessage(b"y", id="ok"), dq.NewMessage(b"other", id="m5")], max_messages=1)
    for mid in ("bad-where", "a", "ok"):
        with pytest.raises(dq.MessageNotFound):
            q.get("steps", mid)


def test_enqueue_lease_wakes_waiters_only_for_what_it_left(q: dq.RedisQueue, redis_client: redis.Redis) -> None:
    """A worker taking every message it enqueues (a chain's next step) must not send the idle
    workers waiting on the queue on an empty dequeue; a message left for them must wake them."""
    q.create_queue("steps")
    keys = q.ops.keys
    waiters, channel = keys.prefix("steps") + "waiters", keys.wake_channel("steps")
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel)
    listener.get_message(timeout=1.0)  # the subscription itself
    redis_client.zadd(waiters, {"idle-worker": time.time() * 1000 + 60_000})
    took = q.enqueue_lease("steps", [dq.NewMessage(b"x", id=f"a{i}") for i in range(3)], max_messages=3)
    assert len(took.leases) == 3
    assert redis_client.exists(waiters) == 1  # nobody was woken
    assert listener.get_message(timeout=0.2) is None
    left = q.enqueue_lease("steps", [dq.NewMessage(b"x", id=f"b{i}") for i in range(3)], max_messages=2)
    assert len(left.leases) == 2 and q.get("steps", "b2").state == "pending"
    assert redis_client.exists(waiters) == 0  # woken: b2 is theirs to take
    message = listener.get_message(timeout=5.0)
    assert message is not None and message["channel"] == channel.encode()
    listener.close()
