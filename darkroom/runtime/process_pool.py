"""Warm child processes for CPU-bound Python functions (``executor="process"``).

A thread of the worker runs each task as usual, but hands the call to an idle child of this pool
and waits for its answer, so the function's Python runs outside the worker's GIL: a worker with
``processes`` children uses that many cores. Children come from the runtime's ``forkserver``
(see :mod:`darkroom.runtime.runner`) and stay up between calls, so a call costs a pipe round
trip, not a process start.

Not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one call. Here each child has its
own duplex pipe, so the waiting thread can tell the child to cancel (``ctx.check_cancelled()``
raises there), and kill that child alone if it does not stop within ``cancel_grace_s`` (or runs
past its timeout); a fresh child replaces it on the next call. Progress reports come back
through the same pipe. Arguments and results cross by pickle; they are JSON values already, and
the function itself crosses by reference (it must be an importable module-level callable).
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import os
import queue as stdqueue
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import InvalidWorkflow, TaskCanceled, TaskTimeout
from darkroom.runtime.functions import Function
from darkroom.runtime.resources import Resources
from darkroom.runtime.runner import MP, ChildFailed, die_with, preload

__all__ = ["ProcessPool"]

POLL_S = 0.25  # how often a waiting thread looks at its task's cancel flag


@dataclass
class _Child:
    proc: BaseProcess
    conn: Connection
    answered: bool = False  # did its last call answer? (if not, it is killed, not reused)


class ProcessPool:
    """``processes`` warm children; :meth:`call` blocks the calling thread until one answers.
    Each child gets ``resources`` once, when it starts (they go on every context it makes)."""

    def __init__(self, processes: int, *, cancel_grace_s: float = 2.0, resources: Resources | None = None) -> None:
        if not 1 <= processes <= 256:
            raise InvalidWorkflow(f"processes {processes!r} must be from 1 to 256")
        self.processes = processes
        self.cancel_grace_s = cancel_grace_s
        self.resources = resources if resources is not None else Resources()
        # idle children, or None for a slot whose child is not started yet (or was killed)
        self._idle: stdqueue.LifoQueue[_Child | None] = stdqueue.LifoQueue()
        for _ in range(processes):
            self._idle.put(None)
        self._lock = threading.Lock()
        self._children: list[_Child] = []
        self._closed = False

    def call(
        self, fn: Function, ctx: TaskContext, args: dict[str, Any] | list[dict[str, Any]], timeout_s: float
    ) -> Any:
        """``fn(ctx, **args)`` in a child; with a list of arguments, a batch: its list of outputs."""
        preload(fn.fn.__module__)
        give_up = time.monotonic() + timeout_s
        child = self._take(ctx, give_up, timeout_s)
        child.answered = False
        try:
            child.conn.send(("call", fn, ctx.identity(), args))
            return self._await(child, ctx, give_up, timeout_s)
        finally:
            self._give_back(child, child.answered)

    def warm(self, functions: list[Function]) -> None:
        """Start every child now (the fork server first, importing the functions' modules), so the
        first calls do not pay for it; children that die later are replaced on demand."""
        for fn in functions:
            preload(fn.fn.__module__)
        started = []
        while True:
            try:
                slot = self._idle.get_nowait()
            except stdqueue.Empty:
                break
            started.append(slot if slot is not None and slot.proc.is_alive() else self._spawn())
        for child in started:
            self._idle.put(child)

    def _take(self, ctx: TaskContext, give_up: float, timeout_s: float) -> _Child:
        while True:
            if ctx.cancel_event.is_set():
                raise TaskCanceled(f"task {ctx.task_id} was canceled")
            if time.monotonic() >= give_up:
                raise TaskTimeout(f"task {ctx.task_id} ran past its timeout of {timeout_s:g}s")
            try:
                child = self._idle.get(timeout=POLL_S)
            except stdqueue.Empty:
                continue
            if child is not None and child.proc.is_alive():
                return child
            try:
                return self._spawn()
            except BaseException:
                self._idle.put(None)
                raise

    def _await(self, child: _Child, ctx: TaskContext, give_up: float, timeout_s: float) -> Any:
        """The call's result; a child that answered (a result or an error) serves again."""
        told_to_stop: float | None = None
        while True:
            now = time.monotonic()
            if told_to_stop is None and (ctx.cancel_event.is_set() or now >= give_up):
                with contextlib.suppress(OSError):
                    child.conn.send(("cancel",))
                told_to_stop = now
            if told_to_stop is not None and now - told_to_stop >= self.cancel_grace_s:
                if ctx.cancel_event.is_set():
                    raise TaskCanceled(f"task {ctx.task_id} was canceled")
                raise TaskTimeout(f"task {ctx.task_id} ran past its timeout of {timeout_s:g}s")
            ready = multiprocessing.connection.wait([child.conn, child.proc.sentinel], timeout=POLL_S)
            if child.conn in ready:
                try:
                    kind, *rest = child.conn.recv()
                except (EOFError, OSError):
                    kind, rest = "died", []
                if kind == "progress":
                    ctx.progress(*rest)
                    continue
                if kind == "encoded":
                    ctx.encoded(*rest)
                    continue
                if kind == "ok":
                    child.answered = True
                    return rest[0]
                if kind == "error":
                    child.answered = True
                    if told_to_stop is not None and rest[2]:  # it stopped because it was told to
                        if ctx.cancel_event.is_set():
                            raise TaskCanceled(f"task {ctx.task_id} was canceled")
                        raise TaskTimeout(f"task {ctx.task_id} ran past its timeout of {timeout_s:g}s")
                    raise ChildFailed(rest[0], permanent=rest[1], item=rest[3])
                child.proc.join(1.0)
                raise ChildFailed(f"the function's process exited with code {child.proc.exitcode}", permanent=False)
            if child.proc.sentinel in ready and not child.conn.poll():
                child.proc.join(1.0)
                raise ChildFailed(f"the function's process exited with code {child.proc.exitcode}", permanent=False)

    def _spawn(self) -> _Child:
        parent, there = MP.Pipe(duplex=True)
        proc = MP.Process(
            target=_child_main, args=(there, os.getpid(), self.resources), daemon=True, name="darkroom-pool"
        )
        proc.start()
        there.close()
        child = _Child(proc, parent)
        with self._lock:
            self._children.append(child)
            closed = self._closed
        if closed:
            self._kill(child)
            raise TaskCanceled("the worker's process pool is closed")
        return child

    def _give_back(self, child: _Child, healthy: bool) -> None:
        if healthy and not self._closed:
            self._idle.put(child)
            return
        self._kill(child)
        self._idle.put(None)

    def _kill(self, child: _Child) -> None:
        if child.proc.is_alive():
            child.proc.kill()
        child.proc.join(5.0)
        child.conn.close()
        with self._lock:
            if child in self._children:
                self._children.remove(child)

    @property
    def started(self) -> int:
        """Children running now (started lazily, on the calls that need them)."""
        with self._lock:
            return len(self._children)

    def close(self) -> None:
        """Stop every child (a call still running in one is cut off)."""
        with self._lock:
            self._closed = True
            children = list(self._children)
        for child in children:
            self._kill(child)


def _child_main(conn: Connection, worker_pid: int, resources: Resources) -> None:
    """Serve calls one at a time; a reader thread turns a ``cancel`` into the call's cancel flag.
    A call whose arguments are a list is a batch: its items run one after the other."""
    die_with(worker_pid)
    calls: stdqueue.Queue[tuple[Any, ...] | None] = stdqueue.Queue()
    current: list[threading.Event] = []
    send_lock = threading.Lock()

    def send(message: tuple[object, ...]) -> None:
        with send_lock:
            conn.send(message)

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                calls.put(None)
                return
            if message[0] == "cancel":
                for event in list(current):
                    event.set()
            else:
                calls.put(message)

    threading.Thread(target=read, name="darkroom-pool-reader", daemon=True).start()
    while (message := calls.get()) is not None:
        _, fn, fields, args = message
        batch = isinstance(args, list)
        cancel = threading.Event()  # one flag for every item of a batch
        current.append(cancel)
        report = None if batch else (lambda f, m: send(("progress", f, m)))
        outs, j = [], 0
        try:
            for j, item_args in enumerate(args if batch else [args]):
                ctx = TaskContext(
                    **{**fields, "item": fields["item"] + j}, resources=resources, report=report, cancel_event=cancel,
                    encoded_to=lambda c, n, t: send(("encoded", c, n, t)),
                )  # fmt: skip
                outs.append(fn.fn(ctx, **item_args))
        except BaseException as exc:  # every failure, cancel included, is the call's answer
            failed = (f"{type(exc).__name__}: {exc}", fn.is_permanent(exc), isinstance(exc, TaskCanceled))
            send(("error", *failed, j if batch else None))
        else:
            send(("ok", outs if batch else outs[0]))
        finally:
            current.remove(cancel)
