"""Worker processes for the concurrency and crash tests (spawned, so importable by path)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import redis

import darkroom.queue as dq


def exclusive_consumer(url: str, queue: str, history_file: str, seed: int, fail_rate: float) -> None:
    """Drain ``queue``, writing (id, value, start, end, outcome) per lease to ``history_file``.

    ``start``/``end`` are taken inside the lease (after dequeue returns, before complete is
    sent), so with a correct queue two intervals of one value can never overlap.
    """
    rng = random.Random(seed)
    q = dq.RedisQueue(redis.Redis.from_url(url))
    with Path(history_file).open("w") as out:
        while True:
            leases = q.dequeue(queue, max_messages=rng.randint(1, 4), lease_s=30, wait_s=0.2)
            if not leases:
                if q.count(queue, dq.State.PENDING) + q.count(queue, dq.State.RUNNING) == 0:
                    break
                continue
            for lease in leases:
                start = time.monotonic()
                time.sleep(rng.random() * 0.003)  # the "work": a few ms, so overlaps would show
                end = time.monotonic()
                value = lease.message.metadata["asset"]
                if lease.message.attempts == 1 and rng.random() < fail_rate:
                    q.fail(lease, "transient")
                    outcome = "failed"
                else:
                    q.complete(lease, str(os.getpid()).encode())
                    outcome = "completed"
                row = {"id": lease.message.id, "value": value, "start": start, "end": end, "outcome": outcome}
                out.write(json.dumps(row) + "\n")
    q.close()


def lease_and_hang(url: str, queue: str, n: int, lease_s: float, ready_file: str) -> None:
    """Lease ``n`` messages, announce them, then hang until killed."""
    q = dq.RedisQueue(redis.Redis.from_url(url))
    leases = q.dequeue(queue, max_messages=n, lease_s=lease_s)
    Path(ready_file).write_text(json.dumps([[lease.message.id, lease.expires_at] for lease in leases]))
    while True:
        time.sleep(3600)
