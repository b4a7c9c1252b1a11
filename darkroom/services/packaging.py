"""Packaging service: HLS (fMP4/CMAF) and DASH over encoded renditions. Request, ``media.package``,
workflow ``packaging``.

The package folder travels as a tree (``files``: ``{"$tree": key}``): every file stored by its
content, so a title of any length (thousands of segments) fits, and a repeated run stores nothing
new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from darkroom.media.package import package
from darkroom.media.recipe import Recipe
from darkroom.runtime.context import TaskContext
from darkroom.runtime.workflow import Workflow
from darkroom.services.common import (
    PACKAGE_S,
    PERMANENT,
    QUEUE_MEDIA,
    BlobRef,
    ServiceRequest,
    registry,
    reporter,
)  # fmt: skip
from darkroom.services.validation import Rendition

__all__ = ["PACKAGING", "PackageRequest", "package_fn", "packaging"]

PACKAGING = "packaging"


class PackageRequest(ServiceRequest):
    """Package renditions (and one audio rendition) for streaming. ``segment_s``: default the
    recipes' own; every recipe's ``gop_s`` must divide it."""

    workflow = PACKAGING
    kind = "package"

    renditions: list[Rendition] = Field(min_length=1, max_length=12)
    audio: BlobRef | None = None
    segment_s: float | None = Field(default=None, ge=0.1, le=60.0)
    formats: list[Literal["hls", "dash"]] = Field(default=["hls", "dash"], min_length=1, max_length=2)

    @model_validator(mode="after")
    def _coherent(self) -> PackageRequest:
        names = [r.name for r in self.renditions]
        for name in names:
            if names.count(name) > 1 or name == "audio":
                raise ValueError(f"renditions: name {name!r} is repeated or reserved (names are folder names)")
        segment = self.segment_s or Recipe.from_dict(self.renditions[0].recipe).segment_s
        for r in self.renditions:
            gop = Recipe.from_dict(r.recipe).gop_s
            if abs(segment / gop - round(segment / gop)) > 1e-6:
                raise ValueError(f"segment_s={segment!r}: gop_s={gop!r} of {r.name} does not divide it")
        return self

    def inputs(self) -> dict[str, object]:
        return {
            "renditions": [r.wire() for r in self.renditions],
            "audio": None if self.audio is None else self.audio.model_dump(),
            "segment_s": self.segment_s,
            "formats": list(self.formats),
        }


@registry.function(
    "media.package", queue=QUEUE_MEDIA, isolation="process", timeout_s=PACKAGE_S + 60, permanent_errors=PERMANENT
)
def package_fn(
    ctx: TaskContext,
    renditions: Sequence[Mapping[str, Any]],
    audio: Path | None = None,
    segment_s: float | None = None,
    formats: Sequence[str] = ("hls", "dash"),
) -> dict[str, Any]:
    """HLS + DASH over the encoded renditions (``{"file": Path, "recipe": dict}``) and the audio."""
    pairs = [(Path(r["file"]), Recipe.from_dict(r["recipe"])) for r in renditions]
    seg = segment_s if segment_s is not None else (pairs[0][1].segment_s if pairs else 4.0)
    out = ctx.scratch / "package"
    done = package(
        pairs, audio, out, segment_s=seg, formats=formats, timeout_s=PACKAGE_S,
        progress=reporter(ctx, "packaging"),
    )  # fmt: skip
    return {
        "files": out,
        "file_count": sum(1 for p in out.rglob("*") if p.is_file()),
        "master": done.master,
        "mpd": done.mpd,
        "master_path": done.master.relative_to(out).as_posix() if done.master else None,
        "mpd_path": done.mpd.relative_to(out).as_posix() if done.mpd else None,
        "renditions": [
            {
                "name": r.name,
                "codecs": r.codecs,
                "bandwidth": r.bandwidth,
                "average_bandwidth": r.average_bandwidth,
                "segments": r.segments,
                "width": r.width,
                "height": r.height,
                "frame_rate": r.frame_rate,
            }
            for r in done.renditions
        ],
        "audio": None
        if done.audio is None
        else {"codecs": done.audio.codecs, "bandwidth": done.audio.bandwidth, "channels": done.audio.channels},
    }


def packaging() -> Workflow:
    wf = Workflow(PACKAGING, inputs=["renditions", "audio", "segment_s", "formats"], priority="standard",
                  description="HLS (fMP4) and DASH over encoded renditions")  # fmt: skip
    done = wf.task("package", "media.package", renditions=wf.input("renditions"), audio=wf.input("audio"),
                   segment_s=wf.input("segment_s"), formats=wf.input("formats"))  # fmt: skip
    for name in ("files", "file_count", "master", "mpd", "renditions", "audio"):
        wf.output(name, done[name])
    return wf


registry.add_workflow(packaging())
