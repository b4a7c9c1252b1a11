"""Inspection service: is an upload fit for its title? Request, functions, workflow ``inspection``.

``media.inspect`` runs the probe + one-decode analysis and raises :class:`RejectedMedia` (permanent)
when the verdict is a rejection, so a run fails with ``inspection rejected [codes]: …``.
``media.probe`` reads headers only: size, frame rate and frame count for planning an encode.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from darkroom.media.inspection import inspect
from darkroom.media.probe import MediaInfo, probe
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.runtime.workflow import Workflow
from darkroom.services.common import (
    INSPECT_S,
    PERMANENT,
    QUEUE_MEDIA,
    BlobRef,
    ProfileOverrides,
    ServiceRequest,
    registry,
    reporter,
    title_profile,
)  # fmt: skip
from darkroom.services.errors import RejectedMedia

__all__ = ["INSPECTION", "InspectRequest", "inspect_source", "inspection", "probe_source", "video_facts"]

INSPECTION = "inspection"


class InspectRequest(ServiceRequest):
    """Inspect one upload against a title profile (``TitleProfile`` overrides, ``{}``: defaults)."""

    workflow = INSPECTION
    kind = "inspect"

    source: BlobRef
    profile: ProfileOverrides = Field(default_factory=dict)

    def inputs(self) -> dict[str, object]:
        return {"source": self.source.model_dump(), "profile": self.profile}


def video_facts(info: MediaInfo | None) -> dict[str, Any]:
    """Display size, frame rate, frame count and duration of the primary video (for planning).

    ``fps`` is the constant rate the renditions run at (``output_fps``: a variable-rate source's
    is chosen by ``darkroom.media.framerate``), and ``frames`` the frames the title has at it."""
    video = info.primary_video if info else None
    width, height = video.display_size if video else (0, 0)
    fps = video.output_fps if video else 0.0
    duration = (video.duration_s if video else None) or (info.duration_s if info else None) or 0.0
    counted = video.frame_count if video and not video.vfr else None  # a VFR count is of other frames
    frames = counted or (max(1, round(duration * video.output_rate)) if video and fps else 0)
    return {
        "width": width,
        "height": height,
        "fps": fps,
        "frames": frames,
        "duration_s": frames / fps if fps and frames else duration,
        "has_audio": bool(info and info.primary_audio and info.primary_audio.decodable),
    }


@registry.function(
    "media.inspect", queue=QUEUE_MEDIA, isolation="process", timeout_s=INSPECT_S + 60, permanent_errors=PERMANENT
)
def inspect_source(ctx: TaskContext, source: Path, profile: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Inspect ``source``; a rejected verdict raises :class:`RejectedMedia` naming the issue codes.

    Returns ``verdict``, ``codes``, ``inspection`` and the :func:`video_facts` of the source.
    """
    try:
        checked = title_profile(profile)
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc
    result = inspect(source, checked, timeout_s=INSPECT_S, progress=reporter(ctx, "inspecting"))
    if result.verdict == "rejected":
        errors = [i for i in result.issues if i.severity == "error"]
        codes = [i.code for i in errors]
        detail = "; ".join(f"{i.code}: {i.message}" for i in errors)
        raise RejectedMedia(f"inspection rejected [{', '.join(codes)}]: {detail}"[:2000], codes)
    ctx.progress(1.0, "accepted")
    return {
        "verdict": result.verdict,
        "codes": result.codes,
        "inspection": result.to_dict(),
        **video_facts(result.info),
    }


@registry.function("media.probe", queue=QUEUE_MEDIA, isolation="process", timeout_s=120, permanent_errors=PERMANENT)
def probe_source(ctx: TaskContext, source: Path) -> dict[str, Any]:
    """Headers only: :func:`video_facts` (size, fps, frames, duration, audio)."""
    return video_facts(probe(source))


def inspection() -> Workflow:
    wf = Workflow(INSPECTION, inputs=["source", "profile"], priority="interactive",
                  description="inspect an upload against a title profile")  # fmt: skip
    step = wf.task("inspect", "media.inspect", source=wf.input("source"), profile=wf.input("profile"))
    for name in ("verdict", "codes", "inspection", "width", "height", "fps", "frames", "duration_s", "has_audio"):
        wf.output(name, step[name])
    return wf


registry.add_workflow(inspection())
