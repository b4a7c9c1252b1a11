"""Functions for the batch tests (module level, so pool children can import them)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.runtime.functions import MAX_BATCH, Registry
from darkroom.runtime.workflow import Workflow

QUEUE = "rt-batch"
registry = Registry()


@registry.function(queue=QUEUE, executor="process", batch=4)
def square_proc(ctx: TaskContext, item: int, offset: int) -> dict[str, Any]:
    return {"value": item * item + offset, "item": ctx.item, "pid": os.getpid()}


@registry.function(queue=QUEUE, batch=4)
def square_thread(ctx: TaskContext, item: int, offset: int) -> dict[str, Any]:
    return {"value": item * item + offset, "item": ctx.item, "thread": threading.get_ident()}


@registry.function(queue=QUEUE, executor="process", batch=MAX_BATCH)
def widest(ctx: TaskContext, item: Any) -> dict[str, Any]:
    if not isinstance(item, int):
        raise PermanentError(f"item {item!r} is not a number")
    return {"value": item, "item": ctx.item}


@registry.function(queue=QUEUE, batch=4, retry_backoff_s=0.01)
def flaky(ctx: TaskContext, item: int, marks: str) -> dict[str, Any]:
    """Item 5 fails its first attempt (a transient error); every call leaves a mark."""
    mark = Path(marks) / f"{item}-{ctx.attempt}"
    mark.write_text("")
    if item == 5 and ctx.attempt == 1:
        raise RuntimeError("item 5 stumbled")
    return {"value": item}


@registry.function(queue=QUEUE, executor="process", batch=2, lease_s=1.0)
def gated(ctx: TaskContext, item: int, gate: str, pids: str) -> dict[str, Any]:
    """Waits for ``gate``, checking for a cancel (cooperative)."""
    (Path(pids) / str(item)).write_text(str(os.getpid()))
    while not Path(gate).exists():
        ctx.check_cancelled()
        threading.Event().wait(0.01)
    return {"value": item}


def _map(name: str, fn: str, inputs: list[str], **args: Any) -> None:
    wf = Workflow(name, inputs=["items", *inputs])
    wf.map("each", fn, over=wf.input("items"), **{a: wf.input(a) for a in inputs}, **args)
    registry.add_workflow(wf)


_map("batch.proc", "square_proc", ["offset"])
_map("batch.thread", "square_thread", ["offset"])
_map("batch.widest", "widest", [])
_map("batch.flaky", "flaky", ["marks"])
_map("batch.gated", "gated", ["gate", "pids"])
