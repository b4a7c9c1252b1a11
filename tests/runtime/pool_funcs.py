"""Functions for the executor and slot tests (module level, so pool children can import them)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Workflow

QUEUE_A = "rt-pool-a"
QUEUE_B = "rt-pool-b"
registry = Registry()

# name -> barrier the test made: a task passes it only once as many tasks run at once
BARRIERS: dict[str, threading.Barrier] = {}


@registry.function(queue=QUEUE_A)
def meet_a(ctx: TaskContext, barrier: str) -> dict[str, Any]:
    return {"arrived": BARRIERS[barrier].wait(timeout=8)}


@registry.function(queue=QUEUE_B)
def meet_b(ctx: TaskContext, barrier: str) -> dict[str, Any]:
    return {"arrived": BARRIERS[barrier].wait(timeout=8)}


@registry.function(queue=QUEUE_A, executor="process")
def crunch(ctx: TaskContext, rounds: int) -> dict[str, Any]:
    acc = 0
    for i in range(rounds):
        acc = (acc * 31 + i) % 1_000_003
    return {"acc": acc, "pid": os.getpid()}


@registry.function(queue=QUEUE_A, executor="process", lease_s=1.0)
def hold(ctx: TaskContext, gate: str, pid_file: str) -> dict[str, Any]:
    """Reports progress and waits for ``gate``, checking for a cancel (cooperative)."""
    Path(pid_file).write_text(str(os.getpid()))
    while not Path(gate).exists():
        ctx.progress(0.5, "holding in a child")
        ctx.check_cancelled()
        time.sleep(0.01)
    return {"pid": os.getpid()}


@registry.function(queue=QUEUE_A, executor="process", timeout_s=1.0)
def stubborn(ctx: TaskContext, pid_file: str) -> dict[str, Any]:
    """Never looks at its cancel flag: only killing its child stops it."""
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        time.sleep(0.01)


holding = Workflow("holding", inputs=["gate", "pid_file"])
holding.task("hold", "hold", gate=holding.input("gate"), pid_file=holding.input("pid_file"))
registry.add_workflow(holding)
