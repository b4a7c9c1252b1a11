"""Darkroom's runtime doing the scenarios of ``make bench-runtime`` (the harness's contract is in
``scenarios.py`` and ``run.py``).

Each call starts ``workers`` worker processes and ``BENCH_ENGINES`` engine processes
(``darkroom_proc``; with ``BENCH_ENGINES=0`` each worker has an engine thread beside it). Workers
advance the runs of the tasks they finish themselves (``Worker(engine=...)``, as Celery's canvas
logic runs inside its workers; ``BENCH_WORKER_ADVANCE=0``: engines only), over a fresh SQLite
metadata database in ``workdir``, starts the clock just before the first submit, and stops it
when this process sees the last run finished in the database.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import darkroom.queue as dq
from bench.runtime.darkroom_app import build
from bench.runtime.scenarios import CHAINS, CHAINS_SERIAL, MAP_REDUCE, ScenarioResult, gaps_ms
from darkroom.runtime.workflow import Workflows
from darkroom.storage.db import open_database

__all__ = ["WorkResult", "run_chains", "run_map_reduce", "run_work"]

ROOT = Path(__file__).parents[2]

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))  # threads per worker: sets the batch size
ENGINES = int(os.environ.get("BENCH_ENGINES", "1"))  # engine processes of their own (0: a thread per worker)
POLL_S = 0.005  # how often this process looks for finished runs (one indexed query over the open ones)
# The maps of real work run for seconds on cores the harness shares: it looks less often there
# (a look costs ~0.12 ms of CPU; at 5 ms that was ~3% of a core taken from the items), which
# adds at most this much to a wall time of 4-7 s. Celery's harness waits on its result backend.
WORK_POLL_S = 0.02


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) these processes have used so far, from ``/proc`` (0 where unreadable)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


@contextlib.contextmanager
def _platform(
    redis_url: str, steps: int, workers: int, workdir: Path, concurrency: int = CONCURRENCY, processes: int = 0
) -> Iterator[tuple[Workflows, str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / f"meta-{time.monotonic_ns()}.db"
    db_url = f"sqlite:///{db_path}"
    db = open_database(db_url)
    ready = workdir / f"ready-{time.monotonic_ns()}"
    ready.touch()
    roles = ["worker" if ENGINES else "both"] * workers + ["engine"] * ENGINES
    argv = [redis_url, db_url, str(steps), str(workdir / "scratch"), str(ready), str(concurrency), str(processes)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.runtime.darkroom_proc", role, *argv], cwd=Path(__file__).parents[2]
        )
        for role in roles
    ]
    queue = dq.RedisQueue.from_url(redis_url)
    try:
        give_up = time.monotonic() + 60
        while len(ready.read_text().split()) < len(procs):
            if time.monotonic() > give_up or any(p.poll() is not None for p in procs):
                raise RuntimeError("the Darkroom worker processes did not start")
            time.sleep(0.05)
        config = (
            f"{workers} worker processes x {concurrency} threads + {ENGINES} engine process(es)"
            if ENGINES
            else f"{workers} processes x (worker, {concurrency} threads + engine thread)"
        )
        if processes:
            config += f", {processes} pool children per worker"
        if os.environ.get("BENCH_WORKER_ADVANCE", "1") == "1":
            config += "; workers advance their runs"
        _pids[:] = [p.pid for p in procs]
        yield Workflows(queue, db, build(steps)), config
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        queue.close()
        db.dispose()
        reader = _readers.pop(str(db_path), None)
        if reader is not None:
            reader.close()


def _finished(wf: Workflows, ids: list[str]) -> list[str]:
    # The harness's look, not the system's: plain sqlite3 on a connection kept per database
    # (through SQLAlchemy each look cost a millisecond of CPU, taken from the workers beside it).
    path = wf.store.reader.url.database
    assert path is not None
    conn = _readers.get(path)
    if conn is None:
        conn = _readers[path] = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    marks = ",".join("?" * len(ids))
    sql = f"SELECT id FROM workflows WHERE id IN ({marks}) AND state IN ('succeeded', 'failed', 'canceled')"
    return [row[0] for row in conn.execute(sql, ids)]


_readers: dict[str, sqlite3.Connection] = {}
_pids: list[int] = []  # the worker and engine processes of the platform running now


def run_chains(
    redis_url: str, n_workflows: int, n_steps: int, *, in_flight: int, workers: int, workdir: Path
) -> ScenarioResult:
    scenario = CHAINS if in_flight > 1 else CHAINS_SERIAL
    try:
        with _platform(redis_url, n_steps, workers, workdir) as (wf, config):
            started, cpu0 = time.perf_counter(), cpu_s(_pids)
            pending = [wf.start("bench.chain", {}).id for _ in range(min(in_flight, n_workflows))]
            submitted, finished = len(pending), []
            while pending:
                time.sleep(POLL_S)
                for wid in _finished(wf, pending):
                    pending.remove(wid)
                    finished.append(wid)
                    if submitted < n_workflows:
                        pending.append(wf.start("bench.chain", {}).id)
                        submitted += 1
            wall, cpu = time.perf_counter() - started, cpu_s(_pids) - cpu0
            timelines = []
            for wid in finished:
                run = wf.get(wid)
                if run.state != "succeeded":
                    return ScenarioResult(scenario, 0, wall, config=config, error=f"{wid} {run.state}: {run.error}")
                timelines.append([run.steps[f"s{k}"].output["t"] for k in range(n_steps)])
        return ScenarioResult(scenario, n_workflows * n_steps, wall, gaps_ms(timelines), config=config, cpu_s=cpu)
    except Exception as exc:
        return ScenarioResult(scenario, 0, 0.0, error=f"{type(exc).__name__}: {exc}")


def run_map_reduce(redis_url: str, n_items: int, *, workers: int, workdir: Path) -> ScenarioResult:
    try:
        with _platform(redis_url, 1, workers, workdir) as (wf, config):
            started = time.perf_counter()
            wid = wf.start("bench.map", {"items": list(range(n_items))}).id
            while not _finished(wf, [wid]):
                time.sleep(WORK_POLL_S)
            wall = time.perf_counter() - started
            run = wf.get(wid)
        expected = n_items * (n_items - 1) // 2
        if run.state != "succeeded" or run.steps["total"].output != {"sum": expected}:
            return ScenarioResult(MAP_REDUCE, 0, wall, config=config, error=f"{run.state}: {run.error}")
        return ScenarioResult(MAP_REDUCE, n_items + 1, wall, config=config)
    except Exception as exc:
        return ScenarioResult(MAP_REDUCE, 0, 0.0, error=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class WorkResult:
    """A map of real work: wall time and the task time its items measured themselves."""

    scenario: str  # "map-cpu" | "map-sleep"
    items: int
    wall_s: float
    task_s: float
    config: str = ""
    error: str | None = None


def run_work(
    redis_url: str,
    scenario: str,
    n_items: int,
    *,
    workers: int,
    workdir: Path,
    concurrency: int,
    processes: int = 0,
    batch: int = 1,
) -> WorkResult:
    """One map of ``n_items`` real items (``bench.cpu``, in batches ``bench.cpu-batched``, or
    ``bench.sleep``) and its reduce."""
    name = {"map-cpu": "bench.cpu", "map-sleep": "bench.sleep"}[scenario] + ("-batched" if batch > 1 else "")
    config = ""
    try:
        with _platform(redis_url, 1, workers, workdir, concurrency, processes) as (wf, config):
            started = time.perf_counter()
            wid = wf.start(name, {"items": list(range(n_items))}).id
            while not _finished(wf, [wid]):
                time.sleep(WORK_POLL_S)
            wall = time.perf_counter() - started
            run = wf.get(wid)
        out = run.steps["task_time"].output if "task_time" in run.steps else None
        if run.state != "succeeded" or not out or out["items"] != n_items:
            return WorkResult(scenario, n_items, wall, 0.0, config, error=f"{run.state}: {run.error}")
        return WorkResult(scenario, n_items, wall, float(out["task_s"]), config)
    except Exception as exc:
        return WorkResult(scenario, n_items, 0.0, 0.0, config, error=f"{type(exc).__name__}: {exc}")
