"""Engine and worker processes for the crash and concurrency tests.

    python -m tests.runtime.procs engine REDIS_URL DB_URL RECORD_FILE [CRASH_AT_SAVE]
    python -m tests.runtime.procs worker REDIS_URL DB_URL BLOB_DIR SCRATCH_DIR [GRACE_S]
    python -m tests.runtime.procs advancing-worker REDIS_URL DB_URL SCRATCH_DIR RECORD_FILE [CRASH_AT]

An engine appends one line per pass to RECORD_FILE: ``workflow engine start end`` (monotonic
clock, shared by processes on Linux), and creates ``RECORD_FILE.<pid>.ready`` once it serves.
With CRASH_AT_SAVE=n it dies (``os._exit``) inside its n-th pass, once the pass has planned and
before it commits; with ``commit:n`` in its n-th pass after the commit, before the pass's queue
work (the tasks it started are in the rows, not in the queue).

An advancing worker (``Worker(engine=...)``) records its passes the same way. With CRASH_AT
``claimed`` it dies once it holds the tick of a run it reported to, before its pass (its task
reported, not yet settled); with ``mid-pass`` inside its first pass, before committing it; with
``holding`` at its second pass, made under the tick its first pass kept; with ``after-commit``
after its first pass committed, before that pass's queue work; with ``holding-after-commit`` the
same in its second pass, under the kept tick.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import darkroom.queue as dq
from darkroom.runtime.worker import Worker
from darkroom.runtime.workflow import Engine
from darkroom.storage.blobs import open_blobs
from darkroom.storage.db import connect
from tests.runtime import funcs


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def engine(redis_url: str, db_url: str, record: str, crash_at: str = "0") -> None:
    stop = _stop_on_sigterm()
    with Path(record).open("a", buffering=1) as out:
        _engine(redis_url, db_url, out, crash_at, stop)


def _engine(redis_url: str, db_url: str, out: Any, crash_at: str, stop: threading.Event) -> None:
    name = f"engine-{os.getpid()}"
    eng = Engine(
        dq.RedisQueue.from_url(redis_url),
        connect(db_url),
        funcs.registry,
        name=name,
        on_pass=lambda r: out.write(f"{r[0]} {r[1]} {r[2]!r} {r[3]!r}\n"),
    )
    if crash_at.startswith("commit:"):
        _die_at_queue_work(int(crash_at.removeprefix("commit:")))
    elif int(crash_at):
        saves = [0]
        real_save = eng.store.save

        def save(*args: Any, **kw: Any) -> None:
            saves[0] += 1
            if saves[0] == int(crash_at):
                os._exit(9)
            real_save(*args, **kw)

        eng.store.save = save  # type: ignore[method-assign]
    eng.setup()
    Path(f"{out.name}.{os.getpid()}.ready").touch()  # serving: a test may start its runs now
    eng.run(stop, wait_s=0.2)


def _die_at_queue_work(nth: int) -> None:
    """Exit at the queue work of this process's ``nth`` pass: its commit done, its tasks not enqueued."""
    from darkroom.runtime.workflow import queue_work

    real, calls = queue_work.QueueWork.carry_out, [0]

    def carry_out(self: queue_work.QueueWork, *a: Any, **kw: Any) -> Any:
        calls[0] += 1
        if calls[0] == nth:
            os._exit(9)
        return real(self, *a, **kw)

    queue_work.QueueWork.carry_out = carry_out  # type: ignore[method-assign]


def worker(redis_url: str, db_url: str, blob_dir: str, scratch: str, grace_s: str = "30") -> None:
    stop = _stop_on_sigterm()
    Worker(
        dq.RedisQueue.from_url(redis_url),
        funcs.registry,
        blobs=open_blobs(blob_dir),
        scratch_root=Path(scratch),
        wait_s=0.2,
        grace_s=float(grace_s),
    ).run(stop)


def advancing_worker(redis_url: str, db_url: str, scratch: str, record: str, crash_at: str = "") -> None:
    stop = _stop_on_sigterm()
    queue = dq.RedisQueue.from_url(redis_url)
    with Path(record).open("a", buffering=1) as fh:
        out: Any = fh
        eng = Engine(
            queue,
            connect(db_url),
            funcs.registry,
            name=f"worker-{os.getpid()}",
            on_pass=lambda r: out.write(f"{r[0]} {r[1]} {r[2]!r} {r[3]!r}\n"),
        )
        if crash_at == "claimed":
            eng.advance_leased = lambda *a, **kw: os._exit(9)  # type: ignore[method-assign]
        elif crash_at in ("after-commit", "holding-after-commit"):
            if crash_at == "holding-after-commit":
                import darkroom.runtime.advancer as advancer_module

                advancer_module.HOLD_S = 3600.0  # the first pass's tick is kept for the second
            _die_at_queue_work(1 if crash_at == "after-commit" else 2)
        elif crash_at == "holding":
            # the first pass keeps the tick (the worker took the next task); die at the second,
            # its report written and the inbox drained under the kept tick
            import darkroom.runtime.advancer as advancer_module

            advancer_module.HOLD_S = 3600.0
            real, calls = eng.advance_leased, [0]

            def advance(*a: Any, **kw: Any) -> Any:
                calls[0] += 1
                if calls[0] == 2:
                    os._exit(9)
                return real(*a, **kw)

            eng.advance_leased = advance  # type: ignore[method-assign]
        elif crash_at == "mid-pass":
            eng.store.save = lambda *a, **kw: os._exit(9)  # type: ignore[method-assign]
        Worker(queue, funcs.registry, scratch_root=Path(scratch), wait_s=0.2, engine=eng).run(stop)


if __name__ == "__main__":
    roles: dict[str, Callable[..., None]] = {"engine": engine, "worker": worker, "advancing-worker": advancing_worker}
    roles[sys.argv[1]](*sys.argv[2:])
