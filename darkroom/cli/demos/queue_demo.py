"""``darkroom queue demo``: the queue end to end on one machine, in a few seconds.

A private redis-server (AOF on) and the gRPC queue server start under ``home``; two queues are
filled through gRPC and straight through Redis; worker *processes* lease batches (some with
metadata criteria), heartbeat long work, fail some messages; then the run is checked and shown:
states, service order (earliest deadline first), lateness, and that no asset of the exclusive
queue ever had two messages running at once.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import queue
import random
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as MpQueue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import darkroom.queue as dq
from darkroom.cli.demos.queue_report import DemoReport, LeaseRecord, WorkerResult, analyse, render
from darkroom.config import Settings
from darkroom.local.queue_service import QueueService, ServiceThread

__all__ = ["ASSETS", "ENCODE", "DemoConfig", "DemoReport", "run_demo"]

ENCODE = "demo.encode"
ASSETS = "demo.assets"
CODECS = ("h264", "av1", "vp9")
_LEASE_S = 1.0  # workers lease for this long and heartbeat well inside it
_HEARTBEAT_S = 0.25
_LONG_WORK_MS = 1200  # longer than a lease: only heartbeats keep it


@dataclass(frozen=True, slots=True)
class DemoConfig:
    encode_messages: int = 240
    assets: int = 12
    steps_per_asset: int = 10
    workers: int = 3
    seed: int = 7
    timeout_s: float = 45.0


# -- the plan ------------------------------------------------------------------------------------
def _plan(config: DemoConfig, now: float) -> tuple[list[dq.NewMessage], list[dq.NewMessage]]:
    """Encode jobs with mixed deadlines, and per-asset workflow steps in deadline order."""
    rng = random.Random(config.seed)
    encode: list[dq.NewMessage] = []
    for i in range(config.encode_messages):
        roll = rng.random()
        delay = 0.0
        if roll < 0.3:
            deadline = now - rng.uniform(5, 120)  # already late when enqueued
        elif roll < 0.8:
            deadline = now + rng.uniform(1, 60)
        else:
            deadline = now + rng.uniform(0, 5)
            delay = rng.uniform(0.2, 1.5)  # invisible at first, promoted by the sweeper
        fail = rng.choices(["", "once", "always", "fatal"], [90, 6, 2, 2])[0]
        work_ms = _LONG_WORK_MS if i % 60 == 7 else rng.randint(1, 12)
        payload = json.dumps({"work_ms": work_ms, "fail": fail}).encode()
        meta = {"codec": rng.choice(CODECS)}
        encode.append(dq.NewMessage(payload, deadline, meta, f"enc-{i:04d}", delay))
    steps: list[dq.NewMessage] = []
    for a in range(config.assets):
        base = now + rng.uniform(-30, 30)
        for step in range(config.steps_per_asset):
            fail = "once" if rng.random() < 0.05 else ""
            payload = json.dumps({"work_ms": rng.randint(2, 15), "fail": fail}).encode()
            meta = {"asset": f"asset-{a:02d}", "step": str(step)}
            steps.append(dq.NewMessage(payload, base + step, meta, f"a{a:02d}-s{step:02d}"))
    rng.shuffle(steps)  # enqueue order must not matter: deadlines order the steps
    return encode, steps


# -- workers (separate processes) ----------------------------------------------------------------
def _worker_plan(index: int) -> dict[str, str] | None:
    return {1: {"codec": "av1"}, 2: {"codec": "h264"}}.get(index % 4)


@dataclass(frozen=True)
class _Grpc:
    """How a demo worker reaches the queue server (the key travels by pipe to the spawned process)."""

    url: str
    api_key: str | None


def _worker(index: int, redis_url: str, grpc: _Grpc | None, stop: MpEvent, out: MpQueue[WorkerResult]) -> None:
    """Lease, work, heartbeat, settle until ``stop``; send back one record per lease."""
    q: dq.Queue = dq.connect(grpc.url, api_key=grpc.api_key) if grpc else dq.RedisQueue.from_url(redis_url)
    where = _worker_plan(index)
    held: dict[int, dq.Lease] = {}
    lock = threading.Lock()
    records: list[LeaseRecord] = []
    beats = 0
    done = threading.Event()

    def heartbeat() -> None:
        nonlocal beats
        while not done.wait(_HEARTBEAT_S):
            with lock:
                leases = list(held.values())
            for lease in leases:
                with contextlib.suppress(dq.LeaseLost, dq.MessageNotFound):
                    q.extend(lease, _LEASE_S)
                    beats += 1

    beater = threading.Thread(target=heartbeat, daemon=True)
    beater.start()
    batch_no = 0
    try:
        while not stop.is_set():
            found = False
            for name, criteria, size, wait_s in ((ENCODE, where, 8, 0.0), (ASSETS, None, 4, 0.1)):
                leases: list[dq.Lease] = q.dequeue(
                    name, max_messages=size, lease_s=_LEASE_S, where=criteria, wait_s=0.0 if found else wait_s
                )
                # CLOCK_MONOTONIC is system-wide on Linux, so intervals compare across processes
                taken = time.monotonic()
                found = found or bool(leases)
                batch_no += 1
                with lock:
                    held.update((lease.token, lease) for lease in leases)
                for lease in leases:
                    records.append(
                        _work(
                            q,
                            lease,
                            taken=taken,
                            worker=index,
                            batch=batch_no,
                            where=where if name == ENCODE else None,
                        )
                    )
                    with lock:
                        del held[lease.token]
    finally:
        done.set()
        beater.join()
        out.put({"worker": index, "records": records, "heartbeats": beats})
        q.close()


def _work(
    q: dq.Queue, lease: dq.Lease, *, taken: float, worker: int, batch: int, where: dict[str, str] | None
) -> LeaseRecord:
    m = lease.message
    spec = json.loads(m.payload)
    time.sleep(spec["work_ms"] / 1000.0)  # simulated work; the heartbeat thread keeps the lease alive
    fail = spec["fail"] == "always" or spec["fail"] == "fatal" or (spec["fail"] == "once" and m.attempts == 1)
    record: LeaseRecord = {
        "queue": lease.queue,
        "id": m.id,
        "token": lease.token,
        "attempt": m.attempts,
        "deadline": m.deadline,
        "metadata": m.metadata,
        "worker": worker,
        "where": where,
        "batch": batch,
        "start": taken,
        "end": time.monotonic(),  # before settling: the next holder can only start after this
        "lateness_s": None,
    }
    try:
        if fail:
            fatal = spec["fail"] == "fatal"
            # the exclusive queue retries at once, so a failed step stays its asset's next step
            retry_in = 0.0 if lease.queue == ASSETS else 0.2
            q.fail(lease, f"simulated {spec['fail']} failure", retry=not fatal, retry_in_s=retry_in)
            record["outcome"] = "failed"
        else:
            record["lateness_s"] = q.complete(lease, b"ok")
            record["outcome"] = "completed"
    except dq.LeaseLost:
        record["outcome"] = "lost"
    return record


# -- the run -------------------------------------------------------------------------------------
def _enqueue(
    redis_q: dq.RedisQueue, grpc_q: dq.Queue, name: str, messages: Sequence[dq.NewMessage], via: dict[str, int]
) -> None:
    """Alternate batches of 40 between the gRPC server and Redis itself: the same queue either way."""
    for n, start in enumerate(range(0, len(messages), 40)):
        chunk = list(messages[start : start + 40])
        key = "grpc" if n % 2 == 0 else "redis"
        (grpc_q if key == "grpc" else redis_q).enqueue_many(name, chunk)
        via[key] = via.get(key, 0) + len(chunk)


def _terminal(stats: dq.QueueStats) -> int:
    return sum(n for state, n in stats.counts.items() if state.terminal)


def _scrape_events(url: str) -> dict[str, dict[str, float]]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    events: dict[str, dict[str, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "darkroom_queue_events_total" and s.labels["queue"] in (ENCODE, ASSETS):
                events[s.labels["queue"]][s.labels["event"]] = s.value
    return dict(events)


@contextlib.contextmanager
def _workers(
    count: int, redis_url: str, grpc: _Grpc | None
) -> Iterator[tuple[list[BaseProcess], MpEvent, MpQueue[WorkerResult]]]:
    """Worker processes; always stopped and reaped, so the demo leaves nothing running."""
    ctx = mp.get_context("spawn")  # grpc and redis pools must not be inherited through fork
    stop = ctx.Event()
    out: MpQueue[WorkerResult] = ctx.Queue()
    procs: list[BaseProcess] = [
        ctx.Process(
            target=_worker,
            args=(i, redis_url, grpc if i % 2 else None, stop, out),
            name=f"darkroom-demo-worker-{i}",
        )
        for i in range(count)
    ]
    for p in procs:
        p.start()
    try:
        yield procs, stop, out
    finally:
        stop.set()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()


def _results(procs: list[BaseProcess], out: MpQueue[WorkerResult], timeout_s: float) -> list[WorkerResult]:
    """One result per worker; gives up early once every worker has exited and nothing is left."""
    results: list[WorkerResult] = []
    give_up = time.monotonic() + timeout_s
    while len(results) < len(procs) and time.monotonic() < give_up:
        try:
            results.append(out.get(timeout=0.2))
        except queue.Empty:
            if all(p.exitcode is not None for p in procs) and out.empty():
                break
    return results


def run_demo(home: Path | str, *, config: DemoConfig | None = None, console: Console | None = None) -> DemoReport:
    """Run the demo under ``home`` and print it; everything it started is stopped on return."""
    config = config or DemoConfig()
    console = console or Console()
    report = DemoReport(queue=ENCODE, exclusive_queue=ASSETS, exclusivity_key="asset")
    settings = Settings(home=Path(home), limits=Settings.from_env().limits)
    service = QueueService(settings, grpc_addr="127.0.0.1:0", metrics_port=0, sweep_interval_s=0.2)
    console.rule("[bold]Darkroom demo")
    with console.status("starting the private redis-server and the gRPC queue server…"):
        thread = ServiceThread(service)
        thread.start()
    try:
        console.print(f"redis-server under {settings.home} (AOF on) · queue server {service.grpc_url}", markup=False)
        _run(service, config, console, report)
    finally:
        thread.stop()
    analyse(report)
    render(report, console)
    return report


def _run(service: QueueService, config: DemoConfig, console: Console, report: DemoReport) -> None:
    redis_q = dq.RedisQueue.from_url(service.redis_url)
    grpc_q = dq.connect(str(service.grpc_url), api_key=service.api_key)
    try:
        for name in (ENCODE, ASSETS):
            redis_q.delete_queue(name)  # a fresh run every time
        grpc_q.create_queue(ENCODE, indexed_keys=["codec"], max_attempts=3, lease_s=_LEASE_S)
        grpc_q.create_queue(ASSETS, exclusivity_key="asset", exclusivity_limit=1, max_attempts=3)
        encode, steps = _plan(config, time.time())
        _enqueue(redis_q, grpc_q, ENCODE, encode, report.enqueued_via)
        _enqueue(redis_q, grpc_q, ASSETS, steps, report.enqueued_via)
        started = time.monotonic()
        totals = {ENCODE: len(encode), ASSETS: len(steps)}
        grpc = _Grpc(service.grpc_url, service.api_key) if service.grpc_url else None
        with _workers(config.workers, service.redis_url, grpc) as (procs, stop, out):
            report.finished = _progress(redis_q, totals, procs, config.timeout_s, console)
            stop.set()
            for result in _results(procs, out, timeout_s=15.0):
                report.records += result["records"]
                report.heartbeats += result["heartbeats"]
        report.worker_exit_codes = [p.exitcode for p in procs]
        report.elapsed_s = time.monotonic() - started
        for name in (ENCODE, ASSETS):
            stats = redis_q.stats(name)
            report.counts[name] = {state.value: stats.counts.get(state, 0) for state in dq.State}
        if service.metrics is not None:
            report.events = _scrape_events(service.metrics.url)
    finally:
        grpc_q.close()
        redis_q.close()


def _progress(
    q: dq.RedisQueue, totals: dict[str, int], procs: list[BaseProcess], timeout_s: float, console: Console
) -> bool:
    """Show finished/total per queue until everything is finished (True) or time runs out."""
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = {name: progress.add_task(name, total=total) for name, total in totals.items()}
        give_up = time.monotonic() + timeout_s
        while True:
            done = {name: _terminal(q.stats(name)) for name in totals}
            for name, n in done.items():
                progress.update(tasks[name], completed=n)
            if all(done[name] >= totals[name] for name in totals):
                return True
            if time.monotonic() > give_up or any(p.exitcode not in (None, 0) for p in procs):
                return False
            time.sleep(0.1)  # refresh period of the progress bar
