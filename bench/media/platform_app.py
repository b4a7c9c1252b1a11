"""The overhead benchmark's app: one workflow of one step, the studio ladder encode, timestamped.

``bench.media.encode`` is ``media.encode_ladder`` (the ladder encode of ``studio.video``, same queue,
same process isolation, same permanent errors) with the wall-clock time its body started and
ended added to its output, so the harness can tell the platform's time around the call from the
call itself.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Workflow
from darkroom.services.common import PERMANENT, QUEUE_MEDIA
from darkroom.services.encoding import encode_ladder_fn

__all__ = ["APP", "WORKFLOW", "registry"]

APP = "bench.media.platform_app:registry"
WORKFLOW = "bench.media.encode"

registry = Registry()


@registry.function(WORKFLOW, queue=QUEUE_MEDIA, isolation="process", timeout_s=900, permanent_errors=PERMANENT)
def encode_step(
    ctx: TaskContext, source: Path, width: int, height: int, recipes: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    began = time.time()
    out = encode_ladder_fn(ctx, source, width, height, recipes)
    return {**out, "t": [began, time.time()]}


def _workflow() -> Workflow:
    wf = Workflow(WORKFLOW, inputs=["source", "width", "height", "recipes"], priority="preview")
    step = wf.task(
        "encode", WORKFLOW, source=wf.input("source"), width=wf.input("width"), height=wf.input("height"),
        recipes=wf.input("recipes"),
    )  # fmt: skip
    wf.output("renditions", step["renditions"])
    wf.output("t", step["t"])
    return wf


registry.add_workflow(_workflow())
