"""Functions and workflows the runtime tests run (module level, so child processes can import them)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import StepOptions, Workflow

QUEUE = "rt-test"
registry = Registry()


@registry.function(queue=QUEUE)
def split(ctx: TaskContext, n: int) -> dict[str, Any]:
    return {"items": list(range(n))}


@registry.function(queue=QUEUE)
def square(ctx: TaskContext, item: int) -> dict[str, Any]:
    return {"sq": item * item, "item": item}


@registry.function(queue=QUEUE)
def total(ctx: TaskContext, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"sum": sum(r["sq"] for r in results), "order": [r["item"] for r in results]}


@registry.function(queue=QUEUE, max_attempts=3, retry_backoff_s=0.0)
def flaky(ctx: TaskContext, marker: str) -> dict[str, Any]:
    """Fails on its first attempt, succeeds after."""
    if ctx.attempt < 2:
        raise RuntimeError(f"first attempt of {marker} fails")
    return {"attempt": ctx.attempt}


@registry.function(queue=QUEUE)
def broken(ctx: TaskContext) -> None:
    raise PermanentError("this input can never work")


@registry.function(queue=QUEUE, lease_s=2.0)
def gate(ctx: TaskContext, path: str) -> dict[str, Any]:
    """Waits (cooperatively) until ``path`` exists: lets a test hold a task running."""
    while not Path(path).exists():
        ctx.check_cancelled()
        ctx.progress(0.5, "waiting for the gate")
        time.sleep(0.01)
    return {"opened": True}


@registry.function(queue=QUEUE, isolation="process", timeout_s=1.0)
def sleeper(ctx: TaskContext, seconds: float) -> dict[str, Any]:
    time.sleep(seconds)
    return {"slept": seconds, "pid": os.getpid()}


@registry.function(queue=QUEUE, isolation="process")
def write_file(ctx: TaskContext, text: str) -> dict[str, Any]:
    out = ctx.scratch / "out.txt"
    out.write_text(text)
    ctx.progress(1.0, "written")
    return {"file": out, "pid": os.getpid()}


squares = Workflow("squares", inputs=["n"])
# steps given the registered callables (typed references), not their names
_s = squares.task("split", split, n=squares.input("n"))
_m = squares.map("square", square, over=_s["items"])
_r = squares.reduce("total", total, over=_m)
squares.output("sum", _r["sum"])
squares.output("order", _r["order"])
registry.add_workflow(squares)

retrying = Workflow("retrying", inputs=["marker"])
retrying.output("attempt", retrying.task("flaky", "flaky", marker=retrying.input("marker"))["attempt"])
registry.add_workflow(retrying)

failing = Workflow("failing")
_b = failing.task("broken", "broken")
failing.task("after", "split", n=1, options=StepOptions(after=[_b]))
registry.add_workflow(failing)

gated = Workflow("gated", inputs=["paths"])
gated.map("wait", "gate", over=gated.input("paths"), item_arg="path")
registry.add_workflow(gated)


@registry.function(queue=QUEUE, lease_s=1.0, isolation="process")
def gated_copy(ctx: TaskContext, text: str, gate: str) -> dict[str, Any]:
    """Writes ``text`` to a file once ``gate`` exists (idempotent: same input, same blob key)."""
    while not Path(gate).exists():
        time.sleep(0.01)
    out = ctx.scratch / "copy.txt"
    out.write_text(text)
    return {"file": out}


copying = Workflow("copying", inputs=["text", "gate"])
copying.output(
    "file", copying.task("copy", "gated_copy", text=copying.input("text"), gate=copying.input("gate"))["file"]
)
registry.add_workflow(copying)


class BadInput(ValueError):
    """A function's own 'this input is invalid' error."""


@registry.function(queue=QUEUE, permanent_errors=(BadInput,), max_attempts=3)
def picky(ctx: TaskContext, value: int) -> dict[str, Any]:
    (ctx.scratch / "partial.bin").write_bytes(b"x")  # scratch made, then the call fails
    if value < 0:
        raise BadInput(f"value {value} is negative")
    raise RuntimeError("transient")


@registry.function(queue=QUEUE, timeout_s=0.3, max_attempts=2, retry_backoff_s=0.0)
def dawdle(ctx: TaskContext) -> dict[str, Any]:
    """A thread function that overruns its timeout but stops when asked."""
    while not ctx.cancelled:
        time.sleep(0.01)
    return {"stopped": True}


timing_out = Workflow("timing-out", inputs=["gate"])
timing_out.task("wait", "gate", path=timing_out.input("gate"), options=StepOptions(timeout_s=0.5))
registry.add_workflow(timing_out)

# a timeout longer than a failed pass's retry (1 s): its timer must outlive the pass that arms it
timing_out_later = Workflow("timing-out-later", inputs=["gate"])
timing_out_later.task("wait", "gate", path=timing_out_later.input("gate"), options=StepOptions(timeout_s=2.0))
registry.add_workflow(timing_out_later)

bad_output = Workflow("bad-output")
bad_output.output("x", bad_output.task("split", "split", n=1)["missing"])
registry.add_workflow(bad_output)

last_try = Workflow("last-try", inputs=["text", "gate"])
last_try.task(
    "copy", "gated_copy", text=last_try.input("text"), gate=last_try.input("gate"), options=StepOptions(max_attempts=1)
)
registry.add_workflow(last_try)


@registry.function(queue=QUEUE)
def digest(ctx: TaskContext, file: str) -> dict[str, Any]:
    """The SHA-256 of an input file (a blob reference the worker fetched)."""
    return {"sha256": hashlib.sha256(Path(file).read_bytes()).hexdigest()}


@registry.function(queue=QUEUE)
def echo(ctx: TaskContext, k: int) -> dict[str, Any]:
    return {"k": k, "attempt": ctx.attempt}


chain = Workflow("chain")
_prev = chain.task("s0", "echo", k=0)
for _k in range(1, 6):
    _prev = chain.task(f"s{_k}", "echo", k=_k, options=StepOptions(after=[_prev]))
chain.output("last", _prev.ref)
registry.add_workflow(chain)

gated_chain = Workflow("gated-chain", inputs=["gate"])
_g0 = gated_chain.task("s0", "echo", k=0)
_g1 = gated_chain.task("s1", "gate", path=gated_chain.input("gate"), options=StepOptions(after=[_g0]))
_g2 = gated_chain.task("s2", "echo", k=2, options=StepOptions(after=[_g1]))
gated_chain.output("last", gated_chain.task("s3", "echo", k=3, options=StepOptions(after=[_g2])).ref)
registry.add_workflow(gated_chain)

half_failing = Workflow("half-failing")
_h0 = half_failing.task("first", "echo", k=0)
_h1 = half_failing.task("broken", "broken", options=StepOptions(after=[_h0]))
half_failing.task("after", "echo", k=2, options=StepOptions(after=[_h1]))
registry.add_workflow(half_failing)


@registry.function(queue=QUEUE)
def refuse(ctx: TaskContext, reason: str) -> None:
    raise PermanentError(reason)


refusing = Workflow("refusing", inputs=["reason"])
refusing.task("check", "refuse", reason=refusing.input("reason"))
registry.add_workflow(refusing)


@registry.function(queue=QUEUE)
def wait_for(ctx: TaskContext, timeout_s: float, after: str, max_attempts: int) -> dict[str, Any]:
    """Parameters named like step options: a step passes them as plain arguments."""
    return {"timeout_s": timeout_s, "after": after, "max_attempts": max_attempts}


option_names = Workflow("option-names", inputs=["timeout_s"])
_w = option_names.task(
    "call",
    wait_for,
    timeout_s=option_names.input("timeout_s"),
    after="split",
    max_attempts=7,
    options=StepOptions(timeout_s=60, max_attempts=1),
)
option_names.output("echo", _w.ref)
registry.add_workflow(option_names)
