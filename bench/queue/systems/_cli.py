"""The command line every Python system module exposes; stdlib only.

``python -m bench.queue.systems.<name> --url URL <command>`` with the commands

* ``setup``                      create what the system needs before jobs arrive (a queue);
* ``enqueue --n N``              enqueue N no-op jobs the fastest way the system offers (bulk);
* ``worker --out FILE``          process jobs until killed, one record per job (see ``recorder``);
* ``produce --rate R --seconds S`` enqueue jobs on a fixed schedule (see ``schedule``).

A no-op job carries the epoch time it was enqueued at, so the worker can record
enqueue-to-start latency. The last stdout line of ``enqueue``/``produce`` is a JSON report.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.queue.recorder import Recorder

__all__ = ["Adapter", "main", "schedule"]

QUEUE = "bench"


@dataclass(frozen=True)
class Adapter:
    """What a system module provides. Any function may be a coroutine function.

    ``sender(url)`` returns ``send(k)``, sync or async, which enqueues ``k`` jobs each stamped with
    ``time.time()`` just before the call that carries it: one bulk call where the system has one.
    """

    enqueue: Callable[[str, int], Any]
    worker: Callable[[str, Recorder], Any]
    sender: Callable[[str], Any]
    setup: Callable[[str], Any] | None = None


TICK_S = 0.001
MAX_PER_CALL = 1000  # the largest bulk call any system takes (Darkroom's max_batch)


def schedule(rate: float, seconds: float) -> Iterator[int]:
    """Yield how many jobs are due, on a fixed schedule of ``rate`` per second for ``seconds``.

    The producer stands for many clients: it wakes at most once per ``TICK_S`` (1 ms) and is
    handed every job that fell due since its last call, which a system with a bulk enqueue sends
    in one call (the others send them back to back). Below 1,000 jobs/s that is one job per call,
    on time; at thousands per second it keeps one Python process from spending a core on call
    overhead, which would starve the workers and Redis it shares the 2 cores with. A job waits at
    most one tick in the producer before the call that stamps it (at most :data:`MAX_PER_CALL` jobs
    go in one call; a producer that fell further behind catches up over the following ticks).
    """
    start = time.perf_counter()
    total = int(rate * seconds)
    sent = 0
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) * rate) + 1, sent + MAX_PER_CALL) - sent
        if due <= 0:
            time.sleep(max(0.0, start + sent / rate - now))
            continue
        yield due
        sent += due
        time.sleep(max(0.0, now + TICK_S - time.perf_counter()))


def _run(fn: Callable[..., Any], *args: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return asyncio.run(fn(*args))
    return fn(*args)


def _produce(adapter: Adapter, url: str, rate: float, seconds: float) -> dict[str, float]:
    """Jobs sent, enqueue calls made, seconds from the first scheduled job to the last sent."""
    if inspect.iscoroutinefunction(adapter.sender):

        async def go() -> tuple[int, int]:
            send = await adapter.sender(url)
            sent = calls = 0
            start = time.perf_counter()
            for due in schedule(rate, seconds):  # blocking sleeps: nothing else runs on this loop
                await send(due)
                sent += due
                calls += 1
            return {"sent": sent, "calls": calls, "seconds": time.perf_counter() - start}

        return asyncio.run(go())
    send = adapter.sender(url)
    sent = calls = 0
    start = time.perf_counter()
    for due in schedule(rate, seconds):
        send(due)
        sent += due
        calls += 1
    return {"sent": sent, "calls": calls, "seconds": time.perf_counter() - start}


def main(adapter: Adapter) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup")
    enq = sub.add_parser("enqueue")
    enq.add_argument("--n", type=int, required=True)
    wrk = sub.add_parser("worker")
    wrk.add_argument("--out", required=True)
    prod = sub.add_parser("produce")
    prod.add_argument("--rate", type=float, required=True)
    prod.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()

    if args.command == "setup":
        if adapter.setup is not None:
            _run(adapter.setup, args.url)
    elif args.command == "enqueue":
        start = time.perf_counter()
        _run(adapter.enqueue, args.url, args.n)
        print(json.dumps({"seconds": time.perf_counter() - start}))
    elif args.command == "worker":
        _run(adapter.worker, args.url, Recorder(args.out))
    else:
        print(json.dumps(_produce(adapter, args.url, args.rate, args.seconds)))
