"""SAQ on Redis: 50 concurrent jobs per worker process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from saq import Queue, Worker

from bench.queue.recorder import Recorder
from bench.queue.systems._cli import QUEUE, Adapter, main

CONCURRENCY = 50
GATHER = 200
_recorders: list[Recorder] = []  # the worker's recorder, once it runs


async def noop(ctx: dict[str, Any], *, enqueued_at: float) -> None:
    for rec in _recorders:
        rec.record(enqueued_at)


async def _queue(url: str) -> Queue:
    q = Queue.from_url(url, name=QUEUE)
    await q.connect()
    return q


async def enqueue(url: str, n: int) -> None:
    q = await _queue(url)
    for start in range(0, n, GATHER):
        now = time.time()
        await asyncio.gather(*(q.enqueue("noop", enqueued_at=now) for _ in range(min(GATHER, n - start))))
    await q.disconnect()


async def worker(url: str, rec: Recorder) -> None:
    _recorders.append(rec)
    w = Worker(await _queue(url), functions=[("noop", noop)], concurrency=CONCURRENCY)
    await w.start()


async def sender(url: str) -> Callable[[int], Awaitable[None]]:
    q = await _queue(url)

    async def send(k: int) -> None:
        now = time.time()
        await asyncio.gather(*(q.enqueue("noop", enqueued_at=now) for _ in range(k)))

    return send


if __name__ == "__main__":
    main(Adapter(enqueue=enqueue, worker=worker, sender=sender))
