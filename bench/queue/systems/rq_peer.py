"""RQ with ``SimpleWorker`` (runs jobs in the worker process; the forking default does ~90/s)."""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis
from rq import Queue, SimpleWorker

from bench.queue.recorder import Recorder
from bench.queue.systems._cli import QUEUE, Adapter, main

ENQUEUE_BATCH = 1000
_recorders: list[Recorder] = []  # the worker's recorder, once it runs


def noop(enqueued_at: float) -> None:
    for rec in _recorders:
        rec.record(enqueued_at)


def enqueue(url: str, n: int) -> None:
    q = Queue(QUEUE, connection=Redis.from_url(url))
    for start in range(0, n, ENQUEUE_BATCH):
        now = time.time()
        jobs = [Queue.prepare_data(noop, args=(now,)) for _ in range(min(ENQUEUE_BATCH, n - start))]
        q.enqueue_many(jobs)


def worker(url: str, rec: Recorder) -> None:
    _recorders.append(rec)
    conn = Redis.from_url(url)
    SimpleWorker([Queue(QUEUE, connection=conn)], connection=conn).work(logging_level="WARNING")


def sender(url: str) -> Callable[[int], None]:
    q = Queue(QUEUE, connection=Redis.from_url(url))

    def send(k: int) -> None:
        if k == 1:
            q.enqueue(noop, time.time())
        else:
            now = time.time()
            q.enqueue_many([Queue.prepare_data(noop, args=(now,)) for _ in range(k)])

    return send


if __name__ == "__main__":
    # RQ refuses functions of __main__: hand it this module under its importable name
    import importlib

    this = importlib.import_module("bench.queue.systems.rq_peer")
    main(Adapter(enqueue=this.enqueue, worker=this.worker, sender=this.sender))
