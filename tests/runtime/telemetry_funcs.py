"""A small workflow for the runtime's metrics and log context (module level: child processes
import it): a step in the worker's thread that logs and counts encoded frames, then one in a child
process that counts frames too (sent back to the worker over the child's pipe)."""

from __future__ import annotations

import logging
from typing import Any

from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Workflow

QUEUE = "rt-telemetry"
registry = Registry()
_log = logging.getLogger("tests.runtime.telemetry")


@registry.function(queue=QUEUE)
def announce(ctx: TaskContext, text: str) -> dict[str, Any]:
    _log.warning("announcing %s", text)
    ctx.encoded("h264", 30, 0.5)
    return {"text": text}


@registry.function(queue=QUEUE, isolation="process")
def encode_in_child(ctx: TaskContext, text: str) -> dict[str, Any]:
    ctx.encoded("vp9", 24, 2.0)
    return {"done": text}


telemetry = Workflow("telemetry", inputs=["text"])
_a = telemetry.task("announce", announce, text=telemetry.input("text"))
telemetry.output("done", telemetry.task("encode", encode_in_child, text=_a["text"])["done"])
registry.add_workflow(telemetry)
