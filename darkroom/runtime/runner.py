"""Calling a function: in the worker's thread, or in a child process that can be killed.

Child processes come from a ``forkserver``: forking the worker itself (with its Redis, gRPC and
heartbeat threads) could copy a held lock into the child; the fork server is a clean,
single-threaded parent. Functions run this way must be importable module-level callables.

The fork server imports the module of the first function it is asked to run before it forks
anything (``set_forkserver_preload``), so children start with the app, its libraries (PyAV,
NumPy, SQLAlchemy…) already imported instead of paying seconds of imports per call.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from darkroom.runtime.context import TaskContext, TaskIdentity
from darkroom.runtime.errors import InvalidWorkflow, TaskCanceled, TaskTimeout
from darkroom.runtime.functions import Executor, Function
from darkroom.runtime.resources import Resources

if TYPE_CHECKING:
    from darkroom.runtime.process_pool import ProcessPool

__all__ = ["MP", "ChildFailed", "call", "die_with", "preload"]

MP = multiprocessing.get_context("forkserver")
_preload_lock = threading.Lock()
_preloaded: list[str] = []


def preload(module: str) -> None:
    """Name the app module the fork server imports when it starts (only the first call counts:
    the server starts once per worker process)."""
    with _preload_lock:
        if not _preloaded:
            # '__main__' too: otherwise every child re-imports the worker's main module (the CLI).
            MP.set_forkserver_preload(["__main__", module])
            _preloaded.append(module)


class ChildFailed(Exception):
    """The function raised in its child process (``permanent`` when it raised PermanentError;
    ``item``: which item of a batch, counted from 0)."""

    def __init__(self, message: str, *, permanent: bool, item: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.item = item


class BatchItemFailed(Exception):
    """Item ``item`` (counted from 0) of a batch raised ``error``; the batch stopped there."""

    def __init__(self, item: int, error: Exception) -> None:
        super().__init__(str(error))
        self.item = item
        self.error = error


def call(
    fn: Function, ctx: TaskContext, args: dict[str, Any], timeout_s: float, pool: ProcessPool | None = None
) -> Any:
    """Run ``fn`` the way it asks: a child per call (``isolation="process"``), a warm child of
    ``pool`` (``executor="process"``), or this thread."""
    if fn.isolation == "process":
        return _call_in_child(fn, ctx, args, timeout_s)
    if fn.executor is Executor.PROCESS:
        if pool is None:
            raise InvalidWorkflow(f"function {fn.name!r} runs in a process pool, and this worker has none")
        return pool.call(fn, ctx, args, timeout_s)
    return fn.fn(ctx, **args)


def call_batch(
    fn: Function, ctx: TaskContext, items: list[dict[str, Any]], timeout_s: float, pool: ProcessPool | None = None
) -> list[Any]:
    """Run a batch's items one after the other, in one hand-off to the process pool (or in this
    thread); item ``j`` sees ``ctx.item + j``. Progress reports of single items are not passed on.
    The first failure stops the batch: :class:`BatchItemFailed` (or :class:`ChildFailed` with its
    ``item``)."""
    if fn.executor is Executor.PROCESS:
        if pool is None:
            raise InvalidWorkflow(f"function {fn.name!r} runs in a process pool, and this worker has none")
        out = pool.call(fn, ctx, items, timeout_s)
        assert isinstance(out, list)
        return out
    outs = []
    for j, args in enumerate(items):
        try:
            outs.append(fn.fn(replace(ctx, item=ctx.item + j, report=None), **args))
        except Exception as exc:
            raise BatchItemFailed(j, exc) from exc
    return outs


def _call_in_child(fn: Function, ctx: TaskContext, args: dict[str, Any], timeout_s: float) -> Any:
    preload(fn.fn.__module__)
    parent, child = MP.Pipe(duplex=False)
    fields = ctx.identity()
    proc = MP.Process(
        target=_child_main,
        args=(fn, fields, args, child, os.getpid()),
        kwargs={"resources": ctx.resources},
        daemon=True,
    )
    proc.start()
    child.close()
    give_up = time.monotonic() + timeout_s
    try:
        while True:
            if ctx.cancel_event.is_set():
                raise TaskCanceled(f"task {ctx.task_id} was canceled")
            left = give_up - time.monotonic()
            if left <= 0:
                raise TaskTimeout(f"task {ctx.task_id} ran past its timeout of {timeout_s:g}s")
            ready = multiprocessing.connection.wait([parent, proc.sentinel], timeout=min(left, 0.25))
            if parent in ready:
                try:
                    kind, *rest = parent.recv()
                except EOFError:
                    kind, rest = "died", []
                if kind == "progress":
                    ctx.progress(*rest)
                    continue
                if kind == "encoded":
                    ctx.encoded(*rest)
                    continue
                if kind == "ok":
                    return rest[0]
                if kind == "error":
                    raise ChildFailed(rest[0], permanent=rest[1])
                proc.join(1.0)
                raise ChildFailed(f"the function's process exited with code {proc.exitcode}", permanent=False)
            elif proc.sentinel in ready and not parent.poll():
                proc.join(1.0)
                raise ChildFailed(f"the function's process exited with code {proc.exitcode}", permanent=False)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5.0)
        parent.close()


def _child_main(
    fn: Function, fields: TaskIdentity, args: dict[str, Any], conn: Connection, worker: int, *, resources: Resources
) -> None:
    die_with(worker)
    ctx = TaskContext(
        **fields,
        resources=resources,
        report=lambda f, m: conn.send(("progress", f, m)),
        encoded_to=lambda c, n, t: conn.send(("encoded", c, n, t)),
    )
    try:
        out = fn.fn(ctx, **args)
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}", fn.is_permanent(exc)))
    else:
        conn.send(("ok", out))
    finally:
        conn.close()


def die_with(worker_pid: int) -> None:
    """Exit when the worker that asked for this call dies (SIGKILL included), so that a killed
    worker leaves no orphan still running its task. The fork server is no guide: every child
    holds its liveness pipe open, so it outlives the worker as long as a child runs."""

    def watch() -> None:
        while True:
            time.sleep(0.2)
            try:
                os.kill(worker_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="darkroom-worker-watch", daemon=True).start()
