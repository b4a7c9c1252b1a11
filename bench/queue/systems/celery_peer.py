"""Celery 5 on its Redis broker: 8 threads per worker process, results ignored."""

from __future__ import annotations

import os
from collections.abc import Callable

from celery import Celery

from bench.queue.recorder import Recorder
from bench.queue.systems._cli import QUEUE, Adapter, main

THREADS = 8
_recorders: list[Recorder] = []  # the worker's recorder, once it runs

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_ignore_result=True,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop(enqueued_at: float) -> None:
    for rec in _recorders:
        rec.record(enqueued_at)


def enqueue(url: str, n: int) -> None:
    import time

    for _ in range(n):
        noop.apply_async((time.time(),))


def worker(url: str, rec: Recorder) -> None:
    _recorders.append(rec)
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={THREADS}",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            f"--queues={QUEUE}",
        ]
    )


def sender(url: str) -> Callable[[int], None]:
    import time

    def send(k: int) -> None:
        for _ in range(k):  # no bulk enqueue
            noop.apply_async((time.time(),))

    return send


if __name__ == "__main__":
    main(Adapter(enqueue=enqueue, worker=worker, sender=sender))
