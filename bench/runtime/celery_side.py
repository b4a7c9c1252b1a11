"""Celery canvas doing the runtime scenarios; runs in the peers' venv, imports Celery and the stdlib only.

    python -m bench.runtime.celery_side worker --ready FILE --pool solo --concurrency 1 --prefetch 4
    python -m bench.runtime.celery_side drive --workflows 100 --steps 10 --serial-workflows 20 --items 2000 --repeats 3
    python -m bench.runtime.celery_side work --scenario map-cpu --items 2000

Broker and result backend are both the Redis at ``$BENCH_REDIS_URL``. (a) is one ``chain`` of no-op
``step`` tasks per workflow; each step hands its timeline (start and end of every step so far) to
the next as its result, and the last one pushes it to a Redis list the driver pops. Results of
chain steps are not stored (``ignore_result``), Celery's fastest path. (b) is
``chord(group(item.s(i) for i in range(n)), total.s())``; the chord needs stored results.
``drive`` prints one JSON line: per scenario a list of runs, each with its wall time and the chains' timelines.
``work`` runs one map of real work (``work_items``: CPU-bound or sleeping items) as a chord whose
callback sums the task time the items measured, and prints ``{"wall_s", "task_s", "items"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import redis
from celery import Celery, chain, chord, group
from celery.signals import worker_ready

from bench.runtime import work_items

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = "bench-runtime"
DONE = "bench-runtime:done"  # finished chains' timelines, one JSON document each

app = Celery("bench-runtime", broker=URL, backend=URL)
app.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_enable_remote_control=False,  # no pidbox consumer competing with the task queue
    result_expires=3600,
)

_state: dict[str, Any] = {}


def _redis() -> redis.Redis:
    if "redis" not in _state:  # one connection per process (prefork children create their own)
        _state["redis"] = redis.Redis.from_url(URL)
    return _state["redis"]  # type: ignore[no-any-return]


@app.task(name="step", ignore_result=True)
def step(timeline: list[list[float]], workflow: int, last: bool) -> list[list[float]] | None:
    start = time.time()
    timeline = [*timeline, [start, 0.0]]
    timeline[-1][1] = time.time()
    if last:  # after the end stamp: the push is the harness's, not the step's
        _redis().rpush(DONE, json.dumps({"workflow": workflow, "timeline": timeline}))
        return None
    return timeline


@app.task(name="item")
def item(i: int) -> int:
    return i


@app.task(name="total")
def total(values: list[int]) -> int:
    return sum(values)


@app.task(name="burn")
def burn(i: int) -> float:
    return work_items.burn()


@app.task(name="nap")
def nap(i: int) -> float:
    return work_items.nap()


@app.task(name="task_time")
def task_time(values: list[float]) -> list[float]:
    return [len(values), sum(values)]


@app.task(name="task_time_chunks")
def task_time_chunks(chunks: list[list[float]]) -> list[float]:
    values = [v for chunk in chunks for v in chunk]
    return [len(values), sum(values)]


@worker_ready.connect
def _announce(**_: object) -> None:
    ready = _state.get("ready")
    if ready is not None:
        with Path(ready).open("a") as fh:
            fh.write(f"{os.getpid()}\n")


def worker(pool: str, concurrency: int, prefetch: int, ready: str) -> None:
    _state["ready"] = ready
    app.worker_main(
        [
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--prefetch-multiplier={prefetch}",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            f"--queues={QUEUE}",
        ]
    )


def _workflow(wf: int, steps: int) -> Any:
    first = step.s([], wf, steps == 1)
    return chain(first, *(step.s(wf, k == steps - 1) for k in range(1, steps)))


def chains(n: int, steps: int, in_flight: int, timeout_s: float) -> dict[str, Any]:
    """Run ``n`` chains with at most ``in_flight`` of them submitted and unfinished at any time."""
    r = _redis()
    r.delete(DONE)
    timelines: list[list[list[float]]] = []
    started = time.perf_counter()
    submitted = 0
    while submitted < min(in_flight, n):
        _workflow(submitted, steps).apply_async()
        submitted += 1
    while len(timelines) < n:
        popped = r.blpop([DONE], timeout=timeout_s)
        if popped is None:
            raise TimeoutError(f"{n - len(timelines)} of {n} chains not done after {timeout_s:g}s")
        timelines.append(json.loads(popped[1])["timeline"])
        if submitted < n:
            _workflow(submitted, steps).apply_async()
            submitted += 1
    wall = time.perf_counter() - started
    return {"wall_s": wall, "steps": sum(len(t) for t in timelines), "timelines": timelines}


def map_reduce(n: int, timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    result = chord(group(item.s(i) for i in range(n)), total.s()).apply_async()
    got = result.get(timeout=timeout_s)
    wall = time.perf_counter() - started
    if got != n * (n - 1) // 2:
        raise RuntimeError(f"reduce returned {got}, expected {n * (n - 1) // 2}")
    result.forget()
    return {"wall_s": wall, "steps": n + 1}


def _map(fn: Any, n: int, chunks: int) -> Any:
    """The map and its reduce: one task per item, or ``chunks`` items per task (Celery's ``chunks``)."""
    if chunks > 1:
        return chord(fn.chunks(((i,) for i in range(n)), chunks).group(), task_time_chunks.s())
    return chord(group(fn.s(i) for i in range(n)), task_time.s())


def work(scenario: str, n: int, timeout_s: float, chunks: int = 1) -> dict[str, Any]:
    fn = burn if scenario == "map-cpu" else nap
    _map(fn, 20, chunks).apply_async().get(timeout=timeout_s)  # warm-up
    started = time.perf_counter()
    result = _map(fn, n, chunks).apply_async()
    items, task_s = result.get(timeout=timeout_s)
    wall = time.perf_counter() - started
    result.forget()
    if items != n:
        raise RuntimeError(f"the reduce saw {items} items, expected {n}")
    return {"wall_s": wall, "task_s": task_s, "items": n}


def drive(args: argparse.Namespace) -> None:
    chains(4, 2, 4, args.timeout)  # warm-up: connections, declarations, every process touched once
    map_reduce(20, args.timeout)
    out: dict[str, list[dict[str, Any]]] = {"chains": [], "chains-serial": [], "map-reduce": []}
    for _ in range(args.repeats):  # interleaved, so a burst of load elsewhere hits one run of each, not one scenario
        out["chains"].append(chains(args.workflows, args.steps, args.workflows, args.timeout))
        out["chains-serial"].append(chains(args.serial_workflows, args.steps, 1, args.timeout))
        out["map-reduce"].append(map_reduce(args.items, args.timeout))
    print(json.dumps(out), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--pool", choices=["solo", "prefork", "threads"], default="solo")
    w.add_argument("--concurrency", type=int, default=1)
    w.add_argument("--prefetch", type=int, default=4)
    w.add_argument("--ready", required=True, help="file the worker appends its pid to once it consumes")
    d = sub.add_parser("drive")
    d.add_argument("--workflows", type=int, required=True)
    d.add_argument("--steps", type=int, required=True)
    d.add_argument("--serial-workflows", type=int, required=True)
    d.add_argument("--items", type=int, required=True)
    d.add_argument("--repeats", type=int, default=1, help="runs of each scenario")
    d.add_argument("--timeout", type=float, default=300.0)
    k = sub.add_parser("work")
    k.add_argument("--scenario", choices=["map-cpu", "map-sleep"], required=True)
    k.add_argument("--items", type=int, required=True)
    k.add_argument("--timeout", type=float, default=600.0)
    k.add_argument("--chunks", type=int, default=1, help="items per task (Celery's chunks)")
    args = p.parse_args()
    if args.command == "worker":
        worker(args.pool, args.concurrency, args.prefetch, args.ready)
    elif args.command == "work":
        print(json.dumps(work(args.scenario, args.items, args.timeout, args.chunks)), flush=True)
    else:
        drive(args)


if __name__ == "__main__":
    main()
