"""The worker directory: who is alive on which host, expiry by Redis time, and a worker in it."""

from __future__ import annotations

import pytest
import redis

import darkroom.queue as dq
from darkroom.runtime.directory import WorkerDirectory, WorkerInfo
from tests.queue.helpers import wait_past
from tests.runtime import funcs
from tests.runtime.conftest import Platform


def _now(client: redis.Redis) -> float:
    sec, usec = client.time()
    return float(sec) + usec / 1e6


@pytest.mark.parametrize("namespace", ["", "a{b}", "dr}", "a b", "dr\n", "a\nb", "ü", "*", "x" * 65])
def test_a_bad_namespace_is_refused_naming_it(namespace: str, redis_client: redis.Redis) -> None:
    with pytest.raises(dq.InvalidNamespace) as refused:
        WorkerDirectory(redis_client, namespace)
    assert repr(namespace) in str(refused.value)


def test_the_longest_namespace_is_accepted(redis_client: redis.Redis) -> None:
    d = WorkerDirectory(redis_client, "x" * 64)
    d.announce(WorkerInfo("a:1", "a", ("media",)))
    assert d.hosts() == {"a"}
    d.leave("a:1")


def test_hosts_count_machines_not_workers_and_filter_by_queue(rq: dq.RedisQueue) -> None:
    d = WorkerDirectory.of(rq)
    d.announce(WorkerInfo("a:1", "a", ("media", "images")))
    d.announce(WorkerInfo("a:2", "a", ("media",)))
    d.announce(WorkerInfo("b:1", "b", ("images",), {"gpu": "yes"}))
    assert d.hosts() == {"a", "b"}
    assert d.hosts("media") == {"a"} and d.hosts("images") == {"a", "b"} and d.hosts("other") == set()
    assert {w.name: w for w in d.live()}["b:1"] == WorkerInfo("b:1", "b", ("images",), {"gpu": "yes"})
    d.leave("a:1")
    d.leave("a:2")
    assert d.hosts("media") == set()


def test_a_worker_not_announced_again_expires_by_redis_time(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    d = WorkerDirectory.of(rq)
    d.announce(WorkerInfo("gone:1", "gone", ("media",)), ttl_s=0.05)
    d.announce(WorkerInfo("kept:1", "kept", ("media",)))
    wait_past(redis_client, _now(redis_client) + 0.05)
    assert d.hosts() == {"kept"}
    assert redis_client.hkeys(d.keys[1]) == [b"kept:1"], "the expired entry is pruned by the reader"


def test_an_entry_it_cannot_read_is_alive_with_no_host(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    d = WorkerDirectory.of(rq)
    d.announce(WorkerInfo("odd:1", "odd"))
    redis_client.hset(d.keys[1], "odd:1", "not json")
    assert [w.host for w in d.live()] == [""] and d.hosts() == set()


def test_a_running_worker_is_listed_and_leaves_when_it_stops(platform: Platform) -> None:
    d = WorkerDirectory.of(platform.rq)
    worker = platform.start_worker(host="render-7")
    platform.until(lambda: "render-7" in d.hosts(funcs.QUEUE))
    (me,) = d.live()
    assert me == WorkerInfo(worker.name, "render-7", (funcs.QUEUE,), {})
    platform.stop()
    assert d.live() == []
