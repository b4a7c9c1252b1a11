"""The *studio* profile, tuned for turnaround: inspect -> one-decode ladder encode + audio ->
package (HLS + DASH) -> poster + storyboard. Workflow ``studio.video`` (priority ``preview``).

Inputs: ``source`` (``{"$blob": key}``), ``recipes`` (``Recipe`` dicts, or ``None`` for
``DEFAULT_LADDER``; fitted to the source, no upscaling), ``profile`` (``TitleProfile`` overrides).
A rejected inspection fails the ``inspect`` step for good (:class:`RejectedMedia`): the run ends
``failed`` with ``inspection rejected [codes]: …`` and every later step ``skipped`` (the runtime has
no conditional steps).
"""

from __future__ import annotations

from pydantic import Field

from darkroom.runtime.workflow import StepOptions, Workflow
from darkroom.services.common import BlobRef, ProfileOverrides, RecipeList, ServiceRequest, registry
from darkroom.services.delivery import add_delivery

__all__ = ["STUDIO_VIDEO", "StudioRequest", "studio_video"]

STUDIO_VIDEO = "studio.video"


class StudioRequest(ServiceRequest):
    """A fast preview: ``recipes`` (``None``: the default ladder), inspected against ``profile``."""

    workflow = STUDIO_VIDEO
    kind = "studio"

    source: BlobRef
    recipes: RecipeList = None
    profile: ProfileOverrides = Field(default_factory=dict)

    def inputs(self) -> dict[str, object]:
        return {"source": self.source.model_dump(), "recipes": self.recipes, "profile": self.profile}


def studio_video() -> Workflow:
    wf = Workflow(
        STUDIO_VIDEO,
        inputs=["source", "recipes", "profile"],
        priority="preview",
        description="studio profile: inspect, encode the predefined recipes, package HLS+DASH, poster, storyboard",
    )
    source = wf.input("source")
    inspected = wf.task("inspect", "media.inspect", source=source, profile=wf.input("profile"))
    ladder = wf.task(
        "encode", "media.encode_ladder", source=source, recipes=wf.input("recipes"),
        width=inspected["width"], height=inspected["height"],
    )  # fmt: skip
    audio = wf.task("audio", "media.encode_audio", source=source, options=StepOptions(after=[inspected]))
    wf.output("verdict", inspected["verdict"])
    wf.output("inspection", inspected["inspection"])
    wf.output("renditions", ladder["renditions"])
    add_delivery(wf, source, inspected, ladder["renditions"], audio["file"])
    return wf


registry.add_workflow(studio_video())
