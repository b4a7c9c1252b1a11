"""delete_queue: one atomic script over the queue's own keys (no keyspace scan), complete at any
size, and blind to every other queue, however alike their names."""

from __future__ import annotations

from typing import Any

import pytest
import redis

import darkroom.queue as dq
from darkroom.queue.keys import Keys
from darkroom.runtime.directory import WorkerDirectory, WorkerInfo
from darkroom.runtime.workflow.inbox import Inbox, Report
from tests.queue.integrity import audit

KEYS = Keys()
LIM = dq.DEFAULT_LIMITS
# More messages than Lua's unpack takes in one command (about 8,000 values): a delete that named
# every key of a state in one UNLINK would fail half-way.
BIG = 9_000
KINDS = {
    "simple": {"indexed_keys": ["kind", "tenant"]},
    "exclusive": {"exclusivity_key": "tenant", "exclusivity_limit": 1000, "indexed_keys": ["kind"]},
}


def _keys_of(r: redis.Redis, queue: str) -> set[str]:
    """Every key of the keyspace that parses as one of ``queue``'s (a full SCAN)."""
    out = set()
    for key in r.scan_iter(count=1000):
        parsed = KEYS.parse(key.decode())
        if parsed is not None and parsed[0] == queue:
            out.add(key.decode())
    return out


def _snapshot(r: redis.Redis) -> dict[bytes, bytes | None]:
    return {key: r.dump(key) for key in r.scan_iter(count=1000)}


def _fill(q: Any, queue: str, n: int, **extra: Any) -> list[str]:
    ids: list[str] = []
    for start in range(0, n, LIM.max_batch):
        batch = [
            dq.NewMessage(b"p", deadline=1_000 + i, metadata={"kind": f"k{i % 7}", "tenant": f"t{i % 97}"}, **extra)
            for i in range(start, min(n, start + LIM.max_batch))
        ]
        ids += q.enqueue_many(queue, batch)
    return ids


def _populate(q: Any, r: redis.Redis, queue: str, kind: str, n: int) -> None:
    """``n`` messages in every state and every kind of key, and one dropped message's hash."""
    q.create_queue(queue, retention_s=3600, **KINDS[kind])
    ids = _fill(q, queue, n)
    _fill(q, queue, n // 10, delay_s=3600.0)
    # run, complete, fail (errored and retried) and cancel parts of them, in full batches
    taken = []
    while len(taken) < n // 2:
        got = q.dequeue(queue, max_messages=LIM.max_batch, fields=[])
        assert got
        taken += got
    third = len(taken) // 3
    for start in range(0, third, LIM.max_batch):
        q.complete_many(taken[start : min(third, start + LIM.max_batch)])
    for lease in taken[third : 2 * third : 2]:
        q.fail(lease, "no", retry=False)
    for mid in ids[-5:]:
        q.cancel(queue, mid)
    assert q.dequeue(queue, wait_s=0.0) is not None
    r.hset(KEYS.message(queue, ids[-6]), "att", "many")  # damaged: dropped by the next dequeue
    q.dequeue(queue, max_messages=LIM.max_batch, fields=[])


@pytest.mark.parametrize("kind", KINDS)
def test_a_queue_of_every_state_and_index_is_deleted_completely_at_any_size(
    rq: dq.RedisQueue, redis_client: redis.Redis, kind: str
) -> None:
    _populate(rq, redis_client, "big", kind, BIG)
    _populate(rq, redis_client, "other", kind, 100)
    counts = rq.stats("big").counts
    assert all(counts[s] > 0 for s in (dq.State.PENDING, dq.State.RUNNING, dq.State.COMPLETED, dq.State.ERRORED))
    assert all(counts[s] > 0 for s in (dq.State.INVISIBLE, dq.State.CANCELED))
    assert len(_keys_of(redis_client, "big")) > BIG
    other = {k: v for k, v in _snapshot(redis_client).items() if b"{other}" in k}
    assert rq.delete_queue("big") is True
    assert _keys_of(redis_client, "big") == set()
    assert not any(b"{big}" in k for k in redis_client.scan_iter(count=1000))
    assert {k: v for k, v in _snapshot(redis_client).items() if b"{other}" in k} == other
    assert [i.name for i in rq.list_queues()] == ["other"]
    assert rq.delete_queue("big") is False
    assert audit(redis_client, "other", ignore=frozenset(_dropped(redis_client, "other"))) == []


def _dropped(r: redis.Redis, queue: str) -> set[str]:
    return {m.decode()[2:] for m in r.smembers(KEYS.registry_of(queue)) if m.startswith(b"m:")}


NEIGHBOURS = ["a", "a.b", "ab", "a-", "a_b", "b.a", "aa", "0a"]


@pytest.mark.backends("redis", "grpc")  # reads the Redis keyspace
def test_deleting_a_queue_leaves_queues_with_alike_names_untouched(q: Any, redis_client: redis.Redis) -> None:
    for name in NEIGHBOURS:
        q.create_queue(name, exclusivity_key="x", indexed_keys=["k"])
        q.enqueue_many(name, [dq.NewMessage(b"p", metadata={"x": f"v{i}", "k": "a"}, id=f"a{i}") for i in range(3)])
        q.enqueue(name, b"d", metadata={"x": "a", "k": "a"}, delay_s=3600.0)
        q.complete(q.dequeue(name)[0])
    # the runtime's keys, whose names hold the queue's too
    rq = dq.RedisQueue(redis_client)
    Inbox(rq).post([Report("a", "s#0:r", b"ok", 1.0, tick=False)])
    WorkerDirectory.of(rq).announce(WorkerInfo("a", "a", ("a",)))
    before = _snapshot(redis_client)
    assert q.delete_queue("a") is True
    after = _snapshot(redis_client)
    gone = {k for k in before if k not in after}
    assert gone and all(KEYS.parse(k.decode()) is not None and b"{a}" in k for k in gone)
    assert _keys_of(redis_client, "a") == set()
    assert {k: v for k, v in before.items() if k not in gone} == {
        k: v for k, v in after.items() if k != KEYS.registry.encode()
    } | {KEYS.registry.encode(): before[KEYS.registry.encode()]}
    assert sorted(i.name for i in q.list_queues()) == sorted(NEIGHBOURS[1:])
    rq.close()


def test_a_queue_with_damaged_sets_is_deleted_completely(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    rq.create_queue("d", indexed_keys=["kind"])
    _fill(rq, "d", 50)
    redis_client.delete(KEYS.state_set("d", "running"))
    redis_client.set(KEYS.state_set("d", "running"), "not a set")
    redis_client.delete(KEYS.registry_of("d"))
    redis_client.set(KEYS.registry_of("d"), "not a set either")
    assert rq.delete_queue("d") is True
    # the hashes are reached through `pending`; the index keys were named only in the damaged
    # registry, so they are the leftovers a damaged registry cannot name
    assert {KEYS.parse(k)[1].suffix for k in _keys_of(redis_client, "d")} <= {"ix:<combo>"}  # type: ignore[index]


def test_sweep_prunes_the_names_of_index_keys_that_emptied(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    rq.create_queue("p", exclusivity_key="tenant", indexed_keys=["kind"])
    _fill(rq, "p", 200)
    registered = redis_client.scard(KEYS.registry_of("p"))
    assert registered > 0
    while leases := rq.dequeue("p", max_messages=LIM.max_batch, fields=[]):
        rq.complete_many(leases)
    assert redis_client.scard(KEYS.registry_of("p")) == registered  # named, but gone
    rq.sweep("p", purge=False)
    assert redis_client.scard(KEYS.registry_of("p")) == 0
    assert audit(redis_client, "p") == []


def test_a_damaged_registry_fails_no_call(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    """The registry serves only delete_queue: a `keys` that is not a set is skipped by every
    other script, whose state changes are written by then."""
    rq.create_queue("r", exclusivity_key="tenant", indexed_keys=["kind"])
    redis_client.set(KEYS.registry_of("r"), "not a set")
    ids = _fill(rq, "r", 10)
    leases = rq.dequeue("r", max_messages=10)
    assert [lease.message.id for lease in leases] == ids
    assert all(rq.complete_many(leases))
    assert rq.sweep("r").purged == 0
    assert rq.delete_queue("r") is True
    assert _keys_of(redis_client, "r") == set()
