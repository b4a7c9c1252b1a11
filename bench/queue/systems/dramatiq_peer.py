"""Dramatiq on its Redis broker: one ``Worker`` with 8 threads per process, no retries."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.queue.recorder import Recorder
from bench.queue.systems._cli import QUEUE, Adapter, main

THREADS = 8
_recorders: list[Recorder] = []  # the worker's recorder, once it runs

broker = RedisBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def noop(enqueued_at: float) -> None:
    for rec in _recorders:
        rec.record(enqueued_at)


def enqueue(url: str, n: int) -> None:
    for _ in range(n):
        noop.send(time.time())


def worker(url: str, rec: Recorder) -> None:
    _recorders.append(rec)
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # the worker threads inherit the mask
    w = dramatiq.Worker(broker, worker_threads=THREADS)
    w.start()
    signal.sigwait(stop)
    w.stop()


def sender(url: str) -> Callable[[int], None]:
    def send(k: int) -> None:
        for _ in range(k):  # no bulk enqueue
            noop.send(time.time())

    return send


if __name__ == "__main__":
    main(Adapter(enqueue=enqueue, worker=worker, sender=sender))
