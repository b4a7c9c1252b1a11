"""Quality service: VMAF / PSNR / SSIM of renditions against their source. Request, functions,
workflow ``quality``.

Scores are measured chunk by chunk (the chunks of a chunked encode, or pieces of one file) and the
per-frame results joined with :func:`~darkroom.media.quality.concat_frames`; each metric stands on
its own (one that fails is an error beside the others' scores). Per-frame arrays never travel in a
task result (64 KiB at most): each rendition's are a JSON blob ``{metric: [per-frame floats]}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from darkroom.media.header import video_header
from darkroom.media.quality import QualityReport, concat_frames, measure
from darkroom.runtime.context import TaskContext
from darkroom.runtime.workflow import Workflow
from darkroom.services.common import (
    PERMANENT,
    QUALITY_S,
    QUEUE_MEDIA,
    BlobRef,
    ServiceRequest,
    StrictModel,
    registry,
    reporter,
)  # fmt: skip

__all__ = [
    "QUALITY",
    "QualityOptions",
    "QualityRequest",
    "quality",
    "quality_chunk_fn",
    "quality_entry",
    "quality_fn",
    "quality_join_fn",
]

QUALITY = "quality"
Metric = Literal["vmaf", "psnr", "ssim", "ms_ssim"]


class QualityOptions(StrictModel):
    """Metrics to measure and libvmaf's ``n_subsample`` (score every n-th frame)."""

    metrics: list[Metric] = Field(default=["vmaf", "psnr", "ssim"], min_length=1, max_length=4)
    subsample: int = Field(default=1, ge=1, le=30)
    threads: int = Field(default=2, ge=1, le=64)


class QualityRequest(ServiceRequest):
    """Score one encode (``distorted``, named ``name``) against its source; ``piece_s`` scores it in
    pieces of that length (on one worker), joined into one per-frame series."""

    workflow = QUALITY
    kind = "quality"

    source: BlobRef
    distorted: BlobRef
    name: str = Field(default="rendition", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    options: QualityOptions = QualityOptions()
    piece_s: float | None = Field(default=None, ge=0.5, le=3600)

    def inputs(self) -> dict[str, object]:
        return {
            "source": self.source.model_dump(), "distorted": self.distorted.model_dump(), "name": self.name,
            "options": self.options.model_dump(), "piece_s": self.piece_s,
        }  # fmt: skip


def _options(options: Mapping[str, object] | None) -> QualityOptions:
    return QualityOptions.model_validate(dict(options or {}))


def quality_entry(name: str, report: QualityReport, scratch: Path) -> dict[str, Any]:
    """``{name, pooled: {metric: Pooled}, errors: {metric: message}, frames: Path}``; the frames file
    holds ``{metric: [per-frame floats]}`` for every measured metric."""
    frames = scratch / f"quality-{name}.json"
    measured = {m: r for m, r in report.metrics.items() if r.error is None and r.values}
    frames.write_text(json.dumps({m: list(r.values) for m, r in measured.items()}), encoding="utf-8")
    pooled = {m: asdict(p) for m, r in measured.items() if (p := r.pooled) is not None}
    return {"name": name, "pooled": pooled, "errors": report.errors, "frames": frames}


def _measure(source: Path, distorted: Path, opts: QualityOptions, ctx: TaskContext, what: str, *,
             start_s: float | None, distorted_start_s: float | None, duration_s: float | None,
             low: float, high: float) -> QualityReport:  # fmt: skip
    return measure(
        source, distorted, metrics=opts.metrics, threads=opts.threads, subsample=opts.subsample,
        start_s=start_s or None, distorted_start_s=distorted_start_s or None, duration_s=duration_s,
        progress=reporter(ctx, what, low, high - low), timeout_s=QUALITY_S,
    )  # fmt: skip


@registry.function(
    "media.quality", queue=QUEUE_MEDIA, isolation="process", timeout_s=QUALITY_S + 60, permanent_errors=PERMANENT
)
def quality_fn(
    ctx: TaskContext, source: Path, distorted: Path, *, rendition: str = "rendition",
    options: Mapping[str, Any] | None = None, piece_s: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One rendition (named ``rendition``) scored whole, or in pieces of ``piece_s`` joined frame by frame."""
    name = rendition
    opts = _options(options)
    head = video_header(distorted)
    frames = round(head.duration_s * head.fps)
    step = max(1, round((piece_s or head.duration_s or 1.0) * head.fps))
    count = max(1, math.ceil(frames / step)) if piece_s else 1
    reports = []
    for i in range(count):
        start = i * step / head.fps if piece_s else None
        length = min(step, frames - i * step) / head.fps if piece_s else None
        reports.append(_measure(source, distorted, opts, ctx, f"scoring {name}", start_s=start, distorted_start_s=start,
                                duration_s=length, low=i / count, high=(i + 1) / count))  # fmt: skip
    return quality_entry(name, concat_frames(reports), ctx.scratch)


@registry.function(
    "media.quality_chunk", queue=QUEUE_MEDIA, isolation="process", timeout_s=QUALITY_S + 60,
    permanent_errors=PERMANENT,
)  # fmt: skip
def quality_chunk_fn(
    ctx: TaskContext, source: Path, encoded: Mapping[str, Any], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every rendition of one encoded chunk (an ``encode`` item's output) against its source range;
    the reports go out as JSON blobs (per-frame arrays are too big for a task result)."""
    opts = _options(options)
    index, renditions = int(encoded["index"]), list(encoded["renditions"])
    out = []
    for i, rendition in enumerate(renditions):
        report = _measure(
            source, Path(rendition["file"]), opts, ctx, f"chunk {index}: {rendition['name']}",
            start_s=float(encoded["start_s"]), distorted_start_s=None, duration_s=float(encoded["duration_s"]),
            low=i / len(renditions), high=(i + 1) / len(renditions),
        )  # fmt: skip
        path = ctx.scratch / f"quality-c{index:05d}-{rendition['name']}.json"
        path.write_text(json.dumps(report.to_dict()), encoding="utf-8")
        out.append({"name": rendition["name"], "report": path})
    return {"index": index, "reports": out}


@registry.function(
    "media.quality_join", queue=QUEUE_MEDIA, isolation="process", timeout_s=600, permanent_errors=PERMANENT
)
def quality_join_fn(ctx: TaskContext, results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per rendition, the chunks' reports joined in order: the ``quality`` list of the streaming output."""
    chunks = sorted(results, key=lambda r: int(r["index"]))
    names = [r["name"] for r in chunks[0]["reports"]] if chunks else []
    entries = []
    for name in names:
        parts = [next(r for r in c["reports"] if r["name"] == name) for c in chunks]
        reports = [QualityReport.from_dict(json.loads(Path(p["report"]).read_text(encoding="utf-8"))) for p in parts]
        entries.append(quality_entry(name, concat_frames(reports), ctx.scratch))
    return {"quality": entries}


def quality() -> Workflow:
    wf = Workflow(QUALITY, inputs=["source", "distorted", "name", "options", "piece_s"], priority="standard",
                  description="VMAF/PSNR/SSIM of one encode against its source")  # fmt: skip
    scored = wf.task("score", "media.quality", {"options": wf.input("options")}, source=wf.input("source"),
                     distorted=wf.input("distorted"), rendition=wf.input("name"),
                     piece_s=wf.input("piece_s"))  # fmt: skip
    wf.output("quality", scored.ref)
    return wf


registry.add_workflow(quality())
