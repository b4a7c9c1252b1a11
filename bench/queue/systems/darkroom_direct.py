"""Darkroom straight on Redis (``RedisQueue``): batched enqueue, dequeue and complete.

The worker is the loop a Darkroom function worker runs: lease up to ``BATCH`` messages with a
long poll, run them, complete them all in one round trip. Records are written after the
completion is acknowledged, so ``done_at`` is when Redis knows the job is finished.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from bench.queue.recorder import Recorder
from bench.queue.systems._cli import QUEUE, Adapter, main
from darkroom.queue import NewMessage, RedisQueue

BATCH = int(os.environ.get("BENCH_DARKROOM_BATCH", "100"))
ENQUEUE_BATCH = 1000  # the client's max_batch


def setup(url: str) -> None:
    with RedisQueue.from_url(url) as q:
        q.create_queue(QUEUE, lease_s=300.0)


def enqueue(url: str, n: int) -> None:
    with RedisQueue.from_url(url) as q:
        for start in range(0, n, ENQUEUE_BATCH):
            now = str(time.time()).encode()
            q.enqueue_many(QUEUE, [NewMessage(now) for _ in range(min(ENQUEUE_BATCH, n - start))])


def worker(url: str, rec: Recorder) -> None:
    q = RedisQueue.from_url(url)
    while True:
        leases = q.dequeue(QUEUE, max_messages=BATCH, wait_s=1.0, fields=("payload",))
        if not leases:
            continue
        started = []
        for lease in leases:
            started.append((float(lease.message.payload), time.time()))  # the no-op job
        q.complete_many(leases)
        done = time.time()
        for enqueued_at, started_at in started:
            rec.record(enqueued_at, started_at, done)


def sender(url: str) -> Callable[[int], None]:
    q = RedisQueue.from_url(url)

    def send(k: int) -> None:
        stamp = str(time.time()).encode()
        if k == 1:
            q.enqueue(QUEUE, stamp)
        else:
            q.enqueue_many(QUEUE, [NewMessage(stamp) for _ in range(k)])

    return send


if __name__ == "__main__":
    main(Adapter(enqueue=enqueue, worker=worker, sender=sender, setup=setup))
