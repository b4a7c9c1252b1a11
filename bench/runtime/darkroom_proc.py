"""One Darkroom benchmark process: a function worker with a workflow engine thread beside it.

python -m bench.runtime.darkroom_proc ROLE REDIS_URL DB_URL CHAIN_STEPS SCRATCH READY_FILE CONCURRENCY [PROCESSES]
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import darkroom.queue as dq
from bench.runtime.darkroom_app import build
from darkroom.runtime.worker import Worker
from darkroom.runtime.workflow import Engine
from darkroom.storage.db import connect

ADVANCE = os.environ.get("BENCH_WORKER_ADVANCE", "1") == "1"


def main(
    role: str, redis_url: str, db_url: str, steps: str, scratch: str, ready: str, concurrency: str, processes: str = "0"
) -> None:
    sys.setswitchinterval(float(os.environ.get("BENCH_SWITCH_INTERVAL_S", "0.005")))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    registry = build(int(steps))
    queue = dq.RedisQueue.from_url(redis_url)
    trace = os.environ.get("BENCH_TRACE_PASSES")
    out = Path(trace).open("a", buffering=1) if trace else None  # noqa: SIM115
    on_pass = (lambda r: out.write(f"{(r[3] - r[2]) * 1000:.3f}\n")) if out else None
    engine = Engine(queue, connect(db_url), registry, on_pass=on_pass)
    engine.setup()
    if role == "engine":
        _ready(ready)
        engine.run(stop, wait_s=0.5)
        queue.close()
        return
    # Workers advance the runs of the tasks they finish (BENCH_WORKER_ADVANCE=0: engines only); the
    # worker's engine shares its queue client, so the next task's enqueue wakes its leaser at once.
    advancer = Engine(queue, connect(db_url), registry, on_pass=on_pass) if ADVANCE else None
    worker = Worker(
        queue,
        registry,
        concurrency=int(concurrency),
        scratch_root=Path(scratch),
        wait_s=0.5,
        engine=advancer,
        processes=int(processes) or None,
    )
    worker.warm()  # pool children up before the harness starts the clock (as Celery's prefork children are)
    t = threading.Thread(target=engine.run, args=(stop,), kwargs={"wait_s": 0.5}, daemon=True)
    if role == "both":
        t.start()
    _ready(ready)
    worker.run(stop)
    if role == "both":
        t.join(timeout=10)
    queue.close()


def _ready(path: str) -> None:
    with Path(path).open("a") as fh:
        fh.write(f"{os.getpid()}\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
