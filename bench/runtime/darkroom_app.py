"""The benchmark's functions and workflows for Darkroom's runtime (mirrors ``celery_side``)."""

from __future__ import annotations

import time
from typing import Any

from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Workflow

__all__ = ["QUEUE", "build"]

QUEUE = "bench-runtime"


def step(ctx: TaskContext) -> dict[str, Any]:
    start = time.time()
    return {"t": [start, time.time()]}


def item(ctx: TaskContext, item: int) -> int:
    return item


def total(ctx: TaskContext, results: list[int]) -> dict[str, Any]:
    return {"sum": sum(results)}


def build(chain_steps: int) -> Registry:
    """Functions plus ``bench.chain`` (``chain_steps`` no-op steps in a line) and ``bench.map``."""
    registry = Registry()
    registry.function("step", queue=QUEUE)(step)
    registry.function("item", queue=QUEUE)(item)
    registry.function("total", queue=QUEUE)(total)
    chain = Workflow("bench.chain")
    previous = None
    for k in range(chain_steps):
        previous = chain.task(f"s{k}", "step", after=[previous] if previous else [])
    registry.add_workflow(chain)
    fan = Workflow("bench.map", inputs=["items"])
    fan.reduce("total", "total", over=fan.map("items", "item", over=fan.input("items")))
    registry.add_workflow(fan)
    return registry
