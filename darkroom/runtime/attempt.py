"""One attempt of a task in a worker: what it holds while it runs, and how it ends.

:func:`perform` runs the function the runtime's way: input blobs fetched into scratch space,
the call (in a thread or a child process, with its timeout), outputs uploaded, the scratch space
removed whatever happens, and any exception turned into a :class:`Finished` that says whether
the queue should retry it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import darkroom.queue as dq
from darkroom.runtime import runner
from darkroom.runtime.blob_cache import BlobCache
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import InvalidWorkflow, PermanentError, TaskCanceled, TaskTimeout
from darkroom.runtime.files import fetch_arguments, store_outputs
from darkroom.runtime.functions import Function
from darkroom.runtime.metrics import WorkerMetrics
from darkroom.runtime.process_pool import ProcessPool
from darkroom.runtime.reporter import Reporter
from darkroom.runtime.task import TaskOutcome, TaskSpec, dumps
from darkroom.runtime.workflow.inbox import Report
from darkroom.storage.blobs.base import BlobStore

__all__ = ["SETTLE_CHUNK", "Attempt", "Finished", "conclude", "perform", "settle_chunks", "sweep_scratch"]

_log = logging.getLogger(__name__)


@dataclass
class Attempt:
    lease: dq.Lease
    spec: TaskSpec | None
    fn: Function | None
    ctx: TaskContext
    started: float = field(default_factory=time.monotonic)
    wall_started: float = field(default_factory=time.time)
    extended: float = field(default_factory=time.monotonic)
    lease_s: float = 30.0  # the lease currently held (the queue's grant, then the function's)
    announced: bool = False  # has a start report woken the engine yet?
    settled: bool = False
    lost: bool = False

    def __post_init__(self) -> None:
        # Message id and lease token: a redelivered message can start while its timed-out previous
        # attempt's thread still winds down, so the id alone is not unique.
        self.key = (self.lease.message.id, self.lease.token)

    @property
    def fn_name(self) -> str:
        return self.spec.fn if self.spec else "?"

    @property
    def timeout_s(self) -> float:
        """The call's time limit: the function's (or its step's) per item, times a batch's items."""
        assert self.fn is not None
        per_item = (self.spec.timeout_s if self.spec else None) or self.fn.timeout_s
        return per_item * (self.spec.count if self.spec else 1)


@dataclass
class Finished:
    task: Attempt
    ok: bool
    output: Any = None
    error: str = ""
    retry: bool = True
    outcome: str = "succeeded"
    item: int | None = None  # the batch item that failed (counted from 0), when known


def perform(
    task: Attempt,
    blobs: BlobStore | None,
    max_result_bytes: int,
    cache: BlobCache | None = None,
    pool: ProcessPool | None = None,
) -> Finished:
    """Run the attempt's function (its spec and function are known) and say how it ended
    (``pool``: the worker's process pool, for ``executor="process"`` functions)."""
    assert task.spec is not None and task.fn is not None
    spec, fn, ctx = task.spec, task.fn, task.ctx
    timeout = task.timeout_s
    try:
        if spec.batch is None:
            args = _fetched(spec, fn, blobs, ctx.scratch_path / "in", cache)
            out = runner.call(fn, ctx, args, timeout, pool)
            if blobs is not None:
                out = store_outputs(out, blobs, ctx.scratch_path)
        else:
            items = [
                _fetched(it, fn, blobs, ctx.scratch_path / "in" / str(j), cache) for j, it in enumerate(spec.items())
            ]
            out = runner.call_batch(fn, ctx, items, timeout, pool)
            if blobs is not None:
                out = [store_outputs(o, blobs, ctx.scratch_path) for o in out]
        if len(dumps(out)) > max_result_bytes:
            what = f"{spec.fn} returned" if spec.batch is None else f"a batch of {spec.count} {spec.fn} calls returned"
            raise PermanentError(f"{what} more than {max_result_bytes} bytes")
        done = Finished(task, True, output=out)
    except runner.BatchItemFailed as exc:
        done = _failed(task, exc.error, exc.item)
    except Exception as exc:
        done = _failed(task, exc, exc.item if isinstance(exc, runner.ChildFailed) else None)
    finally:
        if ctx.scratch_path.exists():
            shutil.rmtree(ctx.scratch_path, ignore_errors=True)
    if ctx.cancel_event.is_set() and done.ok:
        done = Finished(task, False, error="canceled", outcome="canceled")
    return done


def _fetched(
    spec: TaskSpec, fn: Function, blobs: BlobStore | None, into: Path, cache: BlobCache | None
) -> dict[str, Any]:
    return fetch_arguments(fn.fn, spec.args, blobs, into, cache) if blobs is not None else spec.args


def _failed(task: Attempt, exc: Exception, item: int | None) -> Finished:
    """How an attempt that raised ``exc`` ended, and whether the queue should retry it."""
    assert task.fn is not None
    if isinstance(exc, (PermanentError, InvalidWorkflow)):
        return Finished(task, False, error=f"{type(exc).__name__}: {exc}", retry=False, outcome="failed", item=item)
    if isinstance(exc, runner.ChildFailed):
        return Finished(task, False, error=str(exc), retry=not exc.permanent, outcome="failed", item=item)
    if isinstance(exc, TaskTimeout):
        return Finished(task, False, error=str(exc), outcome="timed_out")
    if isinstance(exc, TaskCanceled):
        return Finished(task, False, error=str(exc), outcome="canceled")
    _log.info("task %s raised", task.lease.message.id, exc_info=exc)
    error = f"{type(exc).__name__}: {exc}"
    return Finished(task, False, error=error, retry=not task.fn.is_permanent(exc), outcome="failed", item=item)


SETTLE_CHUNK = 500  # leases per settle call


def settle_chunks(settles: list[dq.Settlement]) -> list[list[dq.Settlement]]:
    """``settles`` in chunks of one queue, at most :data:`SETTLE_CHUNK` each, in order."""
    by_queue: dict[str, list[dq.Settlement]] = defaultdict(list)
    for s in settles:
        by_queue[s.lease.queue].append(s)
    return [items[i : i + SETTLE_CHUNK] for items in by_queue.values() for i in range(0, len(items), SETTLE_CHUNK)]


def conclude(
    done: list[Finished], worker: str, metrics: WorkerMetrics | None
) -> tuple[list[Report], list[list[dq.Settlement]]]:
    """What finished attempts tell their workflows (reports) and the queue (settles, in chunks of
    one queue: :func:`settle_chunks`)."""
    reports = []
    settles: list[dq.Settlement] = []
    now = time.time()
    for d in done:
        t, msg = d.task, d.task.lease.message
        final = d.ok or not d.retry or msg.attempts >= msg.max_attempts
        outcome = d.outcome if final or d.outcome in ("canceled", "handed_back") else "retried"
        if metrics:
            metrics.finished(t.fn_name, outcome, time.monotonic() - t.started)
        state = "succeeded" if d.ok else "failed" if final else "running"
        for spec, output in _per_item(d):
            told = TaskOutcome(
                state, msg.attempts, worker, now, output=output, error=d.error or None, started=t.wall_started
            )
            rep = Reporter.report(spec, msg.deadline, told, "r" if final else "s", tick=final)
            if rep:
                reports.append(rep)
        if d.ok:
            settles.append(dq.Settlement.complete(t.lease, dumps(d.output)))
        else:
            backoff = t.fn.backoff_s(msg.attempts) if (t.fn and d.outcome != "handed_back") else 0.0
            settles.append(dq.Settlement.fail(t.lease, d.error[:2000], retry=d.retry, retry_in_s=backoff))
    return reports, settle_chunks(settles)


def _per_item(d: Finished) -> list[tuple[TaskSpec | None, Any]]:
    """(spec, output) of each item a finished attempt reports: a batch's items all (the failed one
    alone when it is known), else the task itself."""
    spec = d.task.spec
    if spec is None or spec.batch is None:
        return [(spec, d.output)]
    items = spec.items()
    if d.ok:
        return list(zip(items, d.output, strict=True))
    return [(items[d.item], None)] if d.item is not None and 0 <= d.item < len(items) else [(i, None) for i in items]


def sweep_scratch(parent: Path) -> None:
    """Remove scratch directories of worker processes that died without cleaning up (one
    directory per worker process, named by its pid)."""
    if not parent.is_dir():
        return
    for d in parent.iterdir():
        if d.is_dir() and d.name.isdigit() and not _alive(int(d.name)):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
