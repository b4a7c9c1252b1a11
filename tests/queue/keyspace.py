"""A workload that runs every queue script and writes every kind of key, and a recorder of the keys
it writes (Redis keyspace notifications), for the key schema and hash tag tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

import darkroom.queue as dq
from darkroom.queue.multi import Source
from darkroom.runtime.directory import WorkerDirectory, WorkerInfo
from darkroom.runtime.workflow.inbox import Inbox, Report
from tests.queue.helpers import wait_past

__all__ = ["QUEUES", "exercise", "written_keys"]

# queue -> settings: simple, indexed, exclusive with criteria
QUEUES: dict[str, dict[str, object]] = {
    "plain": {},
    "indexed": {"indexed_keys": ["codec", "size"]},
    "excl": {"exclusivity_key": "asset", "exclusivity_limit": 1, "indexed_keys": ["codec"]},
}


def _now(r: redis.Redis) -> float:
    sec, usec = r.time()
    return float(sec) + usec / 1e6


def exercise(q: dq.RedisQueue, r: redis.Redis) -> None:
    """Every script of the queue on every kind of queue, a dropped message, a deletion, and the
    runtime's own keys (inbox, worker directory)."""
    for name, settings in QUEUES.items():
        q.create_queue(name, lease_s=30, retention_s=0, **settings)  # type: ignore[arg-type]
        q.update_queue(name, max_attempts=2)
        msgs = [
            dq.NewMessage(b"p", deadline=1_000 + i, metadata={"codec": f"c{i % 2}", "size": "s", "asset": f"a{i % 3}"})
            for i in range(8)
        ]
        ids = q.enqueue_many(name, msgs)
        c0, c1 = ({"codec": "c0"}, {"codec": "c1"}) if "indexed_keys" in settings else (None, None)
        q.enqueue(name, b"later", metadata={"codec": "c0", "asset": "a9"}, delay_s=0.001, id=f"{name}-delayed")
        q.update(name, ids[7], deadline=500, metadata={"codec": "c1", "asset": "a4"})
        q.cancel(name, ids[6])
        leases = q.dequeue(name, max_messages=2, where=c0)
        q.extend(leases[0], lease_s=10)
        q.complete(leases[0], b"done")
        q.fail(leases[1], "boom", retry=False)
        q.redrive(name, leases[1].message.id)
        (again,) = q.dequeue(name, where=c1)
        q.fail(again, "later", retry=True, retry_in_s=0.001)
        q.query(name, where={"codec": "c0"})
        handoff = q.enqueue_lease(name, [dq.NewMessage(b"n", metadata={"codec": "c1", "asset": "a7"})], max_messages=1)
        q.complete_many(handoff.leases)
        q.pause(name)
        q.resume(name)
        # a message whose hash is damaged: the next dequeue drops its member, the hash stays
        r.hset(f"dr:{{{name}}}:m:{ids[5]}", "att", "many")
    wait_past(r, _now(r) + 0.002)
    for name in QUEUES:
        q.sweep(name, purge=False)
    leases = q.dequeue_any([Source(n) for n in QUEUES], max_messages=100)
    q.complete_many([lease for lease in leases if lease.queue == "plain"])
    assert q.dequeue("plain", wait_s=0.01) == []  # a long poll that finds nothing: `waiters`
    wait_past(r, _now(r) + 0.001)
    for name in QUEUES:
        q.sweep(name, purge=True)
    q.create_queue("gone")
    q.enqueue("gone", b"x", metadata={"codec": "c0"})
    q.delete_queue("gone")
    # the runtime's keys in the queue's namespace
    inbox = Inbox(q)
    inbox.ensure_queue()
    inbox.post([Report("wf1", "step#0:r", b"ok", 2_000.0)])
    reports = inbox.drain(["wf1"])
    inbox.ack(reports)
    inbox.discard(["wf1"])
    directory = WorkerDirectory.of(q)
    directory.announce(WorkerInfo("w:1", "host", ("plain",)))
    directory.live()
    directory.leave("w:1")


@contextmanager
def written_keys(r: redis.Redis) -> Iterator[set[str]]:
    """The names of every key written inside the block (keyspace notifications), filled in when
    the block ends: a write to a sentinel key after it marks where the record stops."""
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    before = r.config_get("notify-keyspace-events")["notify-keyspace-events"]
    r.config_set("notify-keyspace-events", "KA")
    sub = r.pubsub()
    sub.psubscribe(f"__keyspace@{db}__:*")
    assert sub.get_message(timeout=10) is not None  # the subscription is in place
    keys: set[str] = set()
    try:
        yield keys
        sentinel = "test:sentinel"
        r.set(sentinel, "1")
        while True:
            message = sub.get_message(timeout=10)
            assert message is not None, "the sentinel's notification never came"
            key = message["channel"].decode().split(":", 1)[1]
            if key == sentinel:
                break
            keys.add(key)
        r.delete(sentinel)
    finally:
        sub.close()
        r.config_set("notify-keyspace-events", before)
