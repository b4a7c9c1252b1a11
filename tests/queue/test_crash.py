"""Crashes: a worker killed holding leases, and a redis-server killed after acknowledging."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
import redis

import darkroom.queue as dq
from darkroom.local.redis_server import RedisServer
from tests.queue import workers
from tests.queue.helpers import wait_past


def _wait_for_file(path: Path, timeout_s: float = 30.0) -> str:
    give_up = time.monotonic() + timeout_s
    while not path.exists() or not path.read_text():
        if time.monotonic() > give_up:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)
    return path.read_text()


@pytest.mark.slow
def test_killed_worker_leases_come_back(
    rq: dq.RedisQueue, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    rq.create_queue("encode")
    ids = rq.enqueue_many("encode", [dq.NewMessage(str(i).encode()) for i in range(10)])
    ready = tmp_path / "leased.json"
    proc = multiprocessing.get_context("spawn").Process(
        target=workers.lease_and_hang, args=(redis_url, "encode", 4, 0.3, str(ready))
    )
    proc.start()
    held = json.loads(_wait_for_file(ready))
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert [mid for mid, _ in held] == ids[:4]
    wait_past(redis_client, max(expiry for _, expiry in held))

    done: list[dq.Lease] = []
    while leases := rq.dequeue("encode", max_messages=100):
        rq.complete_many(leases)
        done += leases
    assert sorted(lease.message.id for lease in done) == sorted(ids)
    attempts = {lease.message.id: lease.message.attempts for lease in done}
    assert all(attempts[mid] == 2 for mid in ids[:4]), "the killed worker's messages ran again"
    assert rq.count("encode", dq.State.COMPLETED) == 10


@pytest.mark.slow
def test_restarted_redis_loses_nothing_acknowledged(tmp_path: Path) -> None:
    server = RedisServer(root=tmp_path / "aof", appendfsync="always").start()
    try:
        q = dq.RedisQueue(redis.Redis.from_url(server.url))
        q.create_queue("durable", exclusivity_key="asset")
        ids = q.enqueue_many("durable", [dq.NewMessage(metadata={"asset": f"a{i % 3}"}, deadline=i) for i in range(30)])
        leases = q.dequeue("durable", max_messages=3)
        q.complete(leases[0], b"kept")
        q.close()
        server.kill()  # SIGKILL: no shutdown, no final fsync beyond what "always" already did
        server.start()
        q = dq.RedisQueue(redis.Redis.from_url(server.url))
        assert q.count("durable") == 30
        assert q.get("durable", leases[0].message.id).result == b"kept"
        assert q.count("durable", dq.State.RUNNING) == 2
        with pytest.raises(dq.LeaseLost):
            q.extend(leases[0], lease_s=30)
        q.complete(leases[1])
        rest = q.dequeue("durable", max_messages=100)
        fresh_tokens = [lease.token for lease in rest]
        assert min(fresh_tokens) > max(lease.token for lease in leases), "fencing tokens never repeat"
        assert {lease.message.id for lease in rest} <= set(ids)
        q.close()
    finally:
        server.stop()
