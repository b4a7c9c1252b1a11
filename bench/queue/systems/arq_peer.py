"""arq with a 10 ms poll delay (the 0.5 s default caps a process at ~500 jobs/s), 50 jobs at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker, func

from bench.queue.recorder import Recorder
from bench.queue.systems._cli import QUEUE, Adapter, main

CONCURRENCY = 50
GATHER = 200
_recorders: list[Recorder] = []  # the worker's recorder, once it runs


async def noop(ctx: dict[str, Any], enqueued_at: float) -> None:
    for rec in _recorders:
        rec.record(enqueued_at)


async def enqueue(url: str, n: int) -> None:
    pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=QUEUE)
    for start in range(0, n, GATHER):
        now = time.time()
        await asyncio.gather(*(pool.enqueue_job("noop", now) for _ in range(min(GATHER, n - start))))
    await pool.aclose()


async def worker(url: str, rec: Recorder) -> None:
    _recorders.append(rec)
    w = Worker(
        functions=[func(noop, name="noop")],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(url),
        poll_delay=0.01,
        max_jobs=CONCURRENCY,
        log_results=False,
    )
    await w.async_run()


async def sender(url: str) -> Callable[[int], Awaitable[None]]:
    pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=QUEUE)

    async def send(k: int) -> None:
        now = time.time()
        await asyncio.gather(*(pool.enqueue_job("noop", now) for _ in range(k)))

    return send


if __name__ == "__main__":
    main(Adapter(enqueue=enqueue, worker=worker, sender=sender))
