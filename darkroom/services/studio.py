"""The *studio* profile, tuned for turnaround: inspect → one-decode ladder encode + audio → package
(HLS + DASH) → poster + storyboard.

Workflow ``studio.video`` (priority ``preview``), inputs:

- ``source``: the uploaded video, ``{"$blob": key}``;
- ``recipes``: a list of :class:`~darkroom.media.recipe.Recipe` dicts, or ``None`` for
  :data:`~darkroom.media.recipe.DEFAULT_LADDER`; either is fitted to the source (no upscaling);
- ``profile``: :class:`~darkroom.media.inspection.TitleProfile` overrides (``{}`` for the defaults).

A rejected inspection fails the ``inspect`` step for good (:class:`~darkroom.services.functions.
RejectedMedia`): the run ends ``failed`` with ``inspection rejected [codes]: …`` as its error and every
later step ``skipped``. The runtime has no conditional steps, so a rejection is a failed run, not a
succeeded one carrying a verdict.
"""

from __future__ import annotations

from darkroom.runtime.workflow import Workflow
from darkroom.services.functions import registry

__all__ = ["STUDIO_VIDEO", "studio_video"]

STUDIO_VIDEO = "studio.video"


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
    wf.output("package_archive", packaged["archive"])
    wf.output("master", packaged["master"])
    wf.output("mpd", packaged["mpd"])
    wf.output("packaged", packaged["renditions"])
    wf.output("poster", cover.ref)
    wf.output("storyboard", board.ref)
    return wf


registry.add_workflow(studio_video())
