"""The *studio* profile, tuned for turnaround: inspect -> one-decode ladder encode + audio ->
package (HLS + DASH) -> poster + storyboard. Workflow ``studio.video`` (priority ``preview``).

Inputs: ``source`` (``{"$blob": key}``), ``recipes`` (``Recipe`` dicts, or ``None`` for
``DEFAULT_LADDER``; fitted to the source, no upscaling), ``profile`` (``TitleProfile`` overrides).
A rejected inspection fails the ``inspect`` step for good (:class:`RejectedMedia`): the run ends
``failed`` with ``inspection rejected [codes]: …`` and every later step ``skipped`` (the runtime has
no conditional steps).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from darkroom.media.recipe import Recipe
from darkroom.runtime.workflow import Workflow
from darkroom.services.common import BlobRef, ServiceRequest, registry, title_profile

__all__ = ["STUDIO_VIDEO", "StudioRequest", "studio_video"]

STUDIO_VIDEO = "studio.video"


class StudioRequest(ServiceRequest):
    """A fast preview: ``recipes`` (``None``: the default ladder), inspected against ``profile``."""

    workflow = STUDIO_VIDEO
    kind = "studio"

    source: BlobRef
    recipes: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=12)
    profile: dict[str, Any] = Field(default_factory=dict)

    @field_validator("recipes")
    @classmethod
    def _recipes(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for i, recipe in enumerate(value or []):
            try:
                Recipe.from_dict(recipe)
            except ValueError as exc:
                raise ValueError(f"recipes[{i}]: {exc}") from None
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: dict[str, Any]) -> dict[str, Any]:
        title_profile(value)
        return value

    def inputs(self) -> dict[str, Any]:
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
    audio = wf.task("audio", "media.encode_audio", after=[inspected], source=source)
    packaged = wf.task("package", "media.package", renditions=ladder["renditions"], audio=audio["file"])
    cover = wf.task("poster", "media.poster", after=[inspected], source=source)
    board = wf.task("storyboard", "media.storyboard", after=[inspected], source=source)
    wf.output("verdict", inspected["verdict"])
    wf.output("inspection", inspected["inspection"])
    wf.output("renditions", ladder["renditions"])
    wf.output("package", packaged["files"])
    wf.output("master", packaged["master"])
    wf.output("mpd", packaged["mpd"])
    wf.output("packaged", packaged["renditions"])
    wf.output("poster", cover.ref)
    wf.output("storyboard", board.ref)
    return wf


registry.add_workflow(studio_video())
