"""Images service: photo renditions + blurhash (workflow ``photo.renditions``), and a video's poster
and storyboard (workflow ``images.video``). Requests, functions, workflows.

An unusable photo (unreadable, a decompression bomb) raises :class:`RejectedMedia` naming its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from darkroom.media.errors import InvalidMedia
from darkroom.media.image import render_photo
from darkroom.media.storyboard import poster, storyboard
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.runtime.workflow import Workflow
from darkroom.services.common import (
    IMAGE_S,
    PERMANENT,
    QUEUE_IMAGES,
    QUEUE_MEDIA,
    BlobRef,
    ServiceRequest,
    photo_spec,
    registry,
    reporter,
)  # fmt: skip
from darkroom.services.errors import RejectedMedia

__all__ = [
    "IMAGES_VIDEO",
    "PHOTO_RENDITIONS",
    "PhotoRequest",
    "VideoImagesRequest",
    "images_video",
    "photo_fn",
    "photo_renditions",
    "poster_fn",
    "storyboard_fn",
]

PHOTO_RENDITIONS = "photo.renditions"
IMAGES_VIDEO = "images.video"


class PhotoRequest(ServiceRequest):
    """Renditions of one photo; ``spec`` holds ``PhotoSpec`` overrides (``{}``: the defaults)."""

    workflow = PHOTO_RENDITIONS
    kind = "photo"

    source: BlobRef
    spec: dict[str, Any] = Field(default_factory=dict)

    @field_validator("spec")
    @classmethod
    def _spec(cls, value: dict[str, Any]) -> dict[str, Any]:
        photo_spec(value)  # raises ValueError naming the field
        return value

    def inputs(self) -> dict[str, object]:
        return {"source": self.source.model_dump(), "spec": self.spec}


class VideoImagesRequest(ServiceRequest):
    """A video's poster (at most ``poster_max_width`` wide) and storyboard (``interval_s`` between
    tiles, ``None``: about 100 tiles; tiles ``tile_width`` wide)."""

    workflow = IMAGES_VIDEO
    kind = "video_images"

    source: BlobRef
    poster_max_width: int = Field(default=1280, ge=64, le=3840)
    interval_s: float | None = Field(default=None, ge=0.1, le=3600)
    tile_width: int = Field(default=160, ge=32, le=640)

    def inputs(self) -> dict[str, object]:
        return {"source": self.source.model_dump(), "poster_max_width": self.poster_max_width,
                "interval_s": self.interval_s, "tile_width": self.tile_width}  # fmt: skip


@registry.function(
    "media.poster", queue=QUEUE_MEDIA, isolation="process", timeout_s=IMAGE_S + 60, permanent_errors=PERMANENT
)
def poster_fn(ctx: TaskContext, source: Path, max_width: int = 1280) -> dict[str, Any]:
    """A representative (non-black) JPEG frame of the opening seconds."""
    made = poster(source, ctx.scratch / "poster.jpg", max_width=max_width, timeout_s=IMAGE_S)
    ctx.progress(1.0, "poster")
    return {"file": made.path, "width": made.width, "height": made.height, "at_s": made.at_s}


@registry.function(
    "media.storyboard", queue=QUEUE_MEDIA, isolation="process", timeout_s=IMAGE_S + 60, permanent_errors=PERMANENT
)
def storyboard_fn(
    ctx: TaskContext, source: Path, interval_s: float | None = None, tile_width: int = 160
) -> dict[str, Any]:
    """Sprite sheets + a WebVTT thumbnails track (cues name the sheets by their ``path``)."""
    out = ctx.scratch / "storyboard"
    board = storyboard(
        source, out, interval_s=interval_s, tile_width=tile_width, timeout_s=IMAGE_S,
        progress=reporter(ctx, "storyboard"),
    )  # fmt: skip
    return {
        "files": out, "vtt": board.vtt, "tiles": board.tiles, "interval_s": board.interval_s,
        "tile_width": board.tile_width, "tile_height": board.tile_height,
    }  # fmt: skip


@registry.function(
    "media.photo", queue=QUEUE_IMAGES, isolation="process", timeout_s=IMAGE_S, permanent_errors=PERMANENT
)
def photo_fn(ctx: TaskContext, source: Path, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every rendition of ``spec`` (JSON overrides of ``PhotoSpec``) plus the blurhash."""
    try:
        checked = photo_spec(spec)
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc
    try:
        made = render_photo(source, ctx.scratch / "renditions", checked)
    except InvalidMedia as exc:
        raise RejectedMedia(f"photo rejected [{exc.code}]: {exc}", [exc.code]) from exc
    ctx.progress(1.0, f"{len(made.renditions)} renditions")
    return {
        "blurhash": made.blurhash,
        "source": {
            "width": made.source_width,
            "height": made.source_height,
            "format": made.source_format,
            "orientation": made.orientation,
            "had_gps": made.had_gps,
        },
        "renditions": [
            {
                "name": r.name,
                "format": r.format,
                "width": r.width,
                "height": r.height,
                "size_bytes": r.size_bytes,
                "file_name": r.file_name,
                "file": r.path,
            }
            for r in made.renditions
        ],
    }


def photo_renditions() -> Workflow:
    wf = Workflow(PHOTO_RENDITIONS, inputs=["source", "spec"], priority="interactive",
                  description="photo renditions (JPEG/WebP/AVIF, thumbnail) and a blurhash placeholder")  # fmt: skip
    made = wf.task("render", "media.photo", source=wf.input("source"), spec=wf.input("spec"))
    wf.output("renditions", made["renditions"])
    wf.output("blurhash", made["blurhash"])
    wf.output("source", made["source"])
    return wf


def images_video() -> Workflow:
    wf = Workflow(IMAGES_VIDEO, inputs=["source", "poster_max_width", "interval_s", "tile_width"],
                  priority="preview", description="a video's poster and storyboard")  # fmt: skip
    source = wf.input("source")
    cover = wf.task("poster", "media.poster", source=source, max_width=wf.input("poster_max_width"))
    board = wf.task("storyboard", "media.storyboard", source=source, interval_s=wf.input("interval_s"),
                    tile_width=wf.input("tile_width"))  # fmt: skip
    wf.output("poster", cover.ref)
    wf.output("storyboard", board.ref)
    return wf


registry.add_workflow(photo_renditions())
registry.add_workflow(images_video())
