"""What a processing upload is doing, in a person's words: the running step of its workflow run
(``streaming.video``, ``studio.video``, ``photo.renditions``…) as a short label the API carries in
``Upload.step`` and compose shows ("encoding 42 %").

Several steps of a run can run at once (the audio beside the video's encode, the poster beside the
storyboard): the one shown is the latest started of those with a label, so a step the labels leave
out (the audio) never hides the one a person waits for.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from darkroom.storage.schema import steps

__all__ = ["STEP_LABELS", "running_step", "step_label"]

# the workflows' step names (darkroom/services) -> what compose says
STEP_LABELS: dict[str, str] = {
    "inspect": "checking the file",
    "probe": "checking the file",
    "complexity-lookup": "analysing",
    "complexity": "analysing",
    "complexity-store": "analysing",
    "ladder": "planning the sizes",
    "plan": "planning the sizes",
    "anchor": "planning the sizes",
    "encode": "encoding",
    "assemble": "encoding",
    "quality": "checking quality",
    "quality-join": "checking quality",
    "ladder-check": "checking quality",
    "validate": "checking quality",
    "package": "packaging",
    "poster": "making previews",
    "storyboard": "making previews",
    "render": "making sizes",
}


def step_label(names: Iterable[str]) -> str:
    """The label of the first of ``names`` (latest started first) that has one, else ""."""
    return next((STEP_LABELS[name] for name in names if name in STEP_LABELS), "")


def running_step(conn: sa.Connection, workflow_id: str) -> str:
    """The label of what the run ``workflow_id`` is doing now ("" when no labelled step runs)."""
    names = conn.execute(
        sa.select(steps.c.name)
        .where(steps.c.workflow_id == workflow_id, steps.c.state == "running")
        .order_by(steps.c.started_at.desc(), steps.c.name)
    ).scalars()
    return step_label(names)
