"""What recording run events costs an engine pass: the same passes with and without the outbox
sink (``darkroom.platform.run_events``), on SQLite and a private redis-server.

Chains of ``STEPS`` one-task steps; each pass applies one task's success report, ends its step
(one ``step.finished``; the last pass also ``workflow.finished``) and starts the next step. The
reports are posted outside the timed part and no worker runs: what is timed is ``Engine.advance``
alone (drain, load, plan, save, the sink's insert, commit, enqueue). Two engines share the
database and the queue, one with the sink and one without, and their passes alternate (run 0 by
one, run 1 by the other, …), so the load of a shared machine falls on both alike; the medians of
the passes' CPU seconds (this process) and wall seconds are printed.

    nice -n 19 .venv/bin/python -m bench.runtime.run_events
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import darkroom.queue as dq
from bench.queue.server import BenchRedis
from darkroom.platform.run_events import OutboxRunEvents
from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.task import TaskOutcome
from darkroom.runtime.workflow import Engine, StepOptions, Workflow, Workflows
from darkroom.runtime.workflow.inbox import Report
from darkroom.storage.db import open_database

STEPS = 20
RUNS = 100  # 50 per variant: 1,000 passes each that end a step
ROUNDS = 3

registry = Registry()


@registry.function(queue="bench-events")
def echo(ctx: TaskContext, k: int) -> dict[str, Any]:
    return {"k": k}


chain = Workflow("events-chain")
_prev = chain.task("s0", "echo", k=0)
for _k in range(1, STEPS):
    _prev = chain.task(f"s{_k}", "echo", k=_k, options=StepOptions(after=[_prev]))
registry.add_workflow(chain)


def _round(rq: dq.RedisQueue, db_path: Path, times: dict[str, list[tuple[float, float]]]) -> None:
    """Adds the CPU and wall seconds of each pass that ends a step to ``times`` by variant."""
    db = open_database(f"sqlite:///{db_path}")
    engines = {"without": Engine(rq, db, registry), "with": Engine(rq, db, registry, events=OutboxRunEvents())}
    for engine in engines.values():
        engine.setup()
    workflows = Workflows(rq, db, registry)
    runs = [(workflows.start("events-chain", {}), "with" if i % 2 else "without") for i in range(RUNS)]
    for run, name in runs:
        engines[name].advance(run.id)  # s0 starts
    for k in range(STEPS):
        now = time.time()
        done = TaskOutcome("succeeded", 1, "bench", now, started=now, output={"k": k}).encode()
        rq_inbox = engines["without"].inbox
        rq_inbox.post([Report(r.id, f"s{k}#0:r", done, r.deadline, tick=False) for r, _ in runs])
        for run, name in runs:
            c0, w0 = time.process_time(), time.perf_counter()
            engines[name].advance(run.id)
            times[name].append((time.process_time() - c0, time.perf_counter() - w0))
    assert all(workflows.get(r.id).state == "succeeded" for r, _ in runs)
    for engine in engines.values():
        engine.close()
    db.dispose()


def main() -> None:
    times: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="bench-run-events-") as tmp:
        root = Path(tmp)
        server = BenchRedis(root / "redis").start()
        try:
            rq = dq.RedisQueue(server.client)
            for i in range(ROUNDS):
                server.flush()
                _round(rq, root / f"round-{i}.db", times)
        finally:
            server.stop()
    passes = len(times["with"])
    print(f"{STEPS}-step chains; {passes} passes per variant that end a step, alternating; medians:")
    base_cpu = statistics.median(c for c, _ in times["without"])
    base_wall = statistics.median(w for _, w in times["without"])
    for name, rows in times.items():
        cpu = statistics.median(c for c, _ in rows)
        wall = statistics.median(w for _, w in rows)
        print(
            f"  {name:>7} events: {cpu * 1e6:5.0f} µs CPU ({(cpu - base_cpu) * 1e6:+4.0f}), "
            f"{wall * 1e6:5.0f} µs wall ({(wall - base_wall) * 1e6:+4.0f})"
        )


if __name__ == "__main__":
    main()
