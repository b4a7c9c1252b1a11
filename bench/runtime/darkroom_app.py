"""The benchmark's functions and workflows for Darkroom's runtime (mirrors ``celery_side``)."""

from __future__ import annotations

import time
from typing import Any

from bench.runtime import work_items
from bench.runtime.work import BATCH
from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import StepOptions, Workflow

__all__ = ["QUEUE", "build"]

QUEUE = "bench-runtime"


def step(ctx: TaskContext) -> dict[str, Any]:
    start = time.time()
    return {"t": [start, time.time()]}


def item(ctx: TaskContext, item: int) -> int:
    return item


def total(ctx: TaskContext, results: list[int]) -> dict[str, Any]:
    return {"sum": sum(results)}


def burn(ctx: TaskContext, item: int) -> dict[str, Any]:
    return {"task_s": work_items.burn()}


def nap(ctx: TaskContext, item: int) -> dict[str, Any]:
    return {"task_s": work_items.nap()}


def task_time(ctx: TaskContext, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": len(results), "task_s": sum(r["task_s"] for r in results)}


def build(chain_steps: int) -> Registry:
    """Functions plus ``bench.chain`` (``chain_steps`` no-op steps in a line), ``bench.map``, and
    the maps of real work: ``bench.cpu`` (in the workers' process pools; ``bench.cpu-batched``
    with ``BATCH`` items per task) and ``bench.sleep``."""
    registry = Registry()
    registry.function("step", queue=QUEUE)(step)
    registry.function("item", queue=QUEUE)(item)
    registry.function("total", queue=QUEUE)(total)
    registry.function("burn", queue=QUEUE, executor="process")(burn)
    registry.function("burn_batched", queue=QUEUE, executor="process", batch=BATCH)(burn)
    registry.function("nap", queue=QUEUE)(nap)
    registry.function("task_time", queue=QUEUE)(task_time)
    for name, fn in (("bench.cpu", "burn"), ("bench.cpu-batched", "burn_batched"), ("bench.sleep", "nap")):
        work = Workflow(name, inputs=["items"])
        work.reduce("task_time", "task_time", over=work.map("items", fn, over=work.input("items")))
        registry.add_workflow(work)
    chain = Workflow("bench.chain")
    previous = None
    for k in range(chain_steps):
        previous = chain.task(f"s{k}", "step", options=StepOptions(after=[previous] if previous else []))
    registry.add_workflow(chain)
    fan = Workflow("bench.map", inputs=["items"])
    fan.reduce("total", "total", over=fan.map("items", "item", over=fan.input("items")))
    registry.add_workflow(fan)
    return registry
