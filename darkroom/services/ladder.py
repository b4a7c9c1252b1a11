"""Ladder service: the renditions a title is encoded into. Request, ``media.ladder``, workflow ``ladder``.

``mode="per_title"``: :func:`~darkroom.media.ladder.per_title_ladder` on samples picked from the
analysed scenes (:func:`pick_samples`; evenly spread samples without an analysis), compared with the
fixed ladder by BD-rate. ``mode="fixed"``: ``DEFAULT_LADDER`` fitted to the source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from darkroom.media.complexity import Complexity
from darkroom.media.errors import InvalidMedia
from darkroom.media.hull import FLOOR_VMAF
from darkroom.media.ladder import Ladder, Sample, per_title_ladder, spread_samples
from darkroom.media.probe import probe
from darkroom.media.recipe import DEFAULT_LADDER, Recipe, fit_ladder
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.runtime.workflow import Workflow
from darkroom.services.common import (
    ENCODE_S,
    PERMANENT,
    QUEUE_MEDIA,
    BlobRef,
    ServiceRequest,
    StrictModel,
    registry,
    reporter,
)  # fmt: skip
from darkroom.services.inspection import video_facts

__all__ = ["LADDER", "LadderOptions", "LadderRequest", "ladder", "ladder_fn", "pick_samples"]

LADDER = "ladder"
Codec = Literal["h264", "hevc", "vp9", "av1"]


class LadderOptions(StrictModel):
    """How the ladder is made. Trials cost ``samples x len(heights) x len(crfs)`` VMAF passes."""

    mode: Literal["per_title", "fixed"] = "per_title"
    codec: Codec = "h264"
    heights: list[int] = Field(default=[1080, 720, 540, 360, 240], min_length=1, max_length=8)
    crfs: list[int] = Field(default=[18, 23, 28, 33, 38], min_length=1, max_length=10)
    samples: int = Field(default=3, ge=1, le=10)
    sample_s: float = Field(default=2.0, ge=0.5, le=30.0)
    rungs: int = Field(default=5, ge=1, le=10)
    min_vmaf: float = Field(default=40.0, ge=0.0, le=100.0)
    max_vmaf: float = Field(default=95.0, ge=0.0, le=100.0)
    floor_vmaf: float | None = Field(default=FLOOR_VMAF, ge=0.0, le=100.0)
    bitrate_tolerance: float = Field(default=0.15, ge=0.01, le=0.99)
    vmaf_tolerance: float = Field(default=3.0, ge=0.1, le=100.0)
    correct: bool = True
    min_step_ratio: float = Field(default=1.5, ge=1.05, le=4.0)
    max_bitrate_kbps: float | None = Field(default=None, gt=0, le=200_000)
    compare_fixed: bool = True
    # The fixed ladder encoded over the whole title: a second ladder encode per upload, so only
    # where a report asks for it (``darkroom process`` does).
    compare_delivered: bool = False
    subsample: int = Field(default=1, ge=1, le=30)
    trial_preset: str | None = None
    preset: str | None = None
    gop_s: float = Field(default=2.0, ge=0.1, le=60.0)
    segment_s: float = Field(default=4.0, ge=0.1, le=60.0)

    @model_validator(mode="after")
    def _coherent(self) -> LadderOptions:
        for height in self.heights:
            if not 16 <= height <= 4320:
                raise ValueError(f"heights: {height!r} is not in [16, 4320]")
        if self.min_vmaf >= self.max_vmaf:
            raise ValueError(f"min_vmaf={self.min_vmaf!r} must be below max_vmaf={self.max_vmaf!r}")
        for name, preset in (("trial_preset", self.trial_preset), ("preset", self.preset)):
            _recipe_check(name, self.codec, preset=preset)
        for crf in self.crfs:
            _recipe_check("crfs", self.codec, crf=crf)
        _recipe_check("gop_s", self.codec, gop_s=self.gop_s, segment_s=self.segment_s)
        return self


def _recipe_check(field: str, codec: str, **values: Any) -> None:
    """Let :class:`Recipe` judge a value (its rules are per codec); its message names the value."""
    try:
        Recipe(codec, 64, 64, **{"crf": 23, **{k: v for k, v in values.items() if v is not None}})
    except InvalidMedia as exc:
        raise ValueError(f"{field}: {exc}") from None


class LadderRequest(ServiceRequest):
    """Make a ladder for one source (without a complexity analysis, samples are spread evenly)."""

    workflow = LADDER
    kind = "ladder"

    source: BlobRef
    options: LadderOptions = LadderOptions()

    def inputs(self) -> dict[str, object]:
        return {"source": self.source.model_dump(), "options": self.options.model_dump()}


def pick_samples(complexity: Complexity, *, count: int, length_s: float) -> list[Sample]:
    """``count`` windows of up to ``length_s``, centred in scenes taken at evenly spaced quantiles of
    complexity (1: the median scene; 3: the 1/6, 1/2 and 5/6 quantiles), so easy and hard content
    both weigh on the ladder. With fewer scenes than windows, the spare windows go to the scenes
    with the most uncovered time, spread evenly inside them: two scenes of a 7.6 s title get three
    windows instead of two, and the trials see more of the title they predict. Starts are on the
    frame grid; scenes under two frames are skipped."""
    fps = complexity.fps
    frame = 1 / fps if fps > 0 else 0.04
    scenes = sorted((s for s in complexity.scenes if s.end_s - s.start_s >= 2 * frame), key=lambda s: s.bits_per_pixel)
    if not scenes:
        return spread_samples(complexity.duration_s, count=count, length_s=length_s)
    picked = sorted({min(len(scenes) - 1, int((i + 0.5) * len(scenes) / count)) for i in range(count)})
    windows = dict.fromkeys(picked, 1)
    for _ in range(count - len(picked)):
        # the scene that would leave the most time unsampled, if it still has room for another window
        room = [i for i in windows if (windows[i] + 1) * length_s <= scenes[i].end_s - scenes[i].start_s]
        if not room:
            break
        best = max(room, key=lambda i: scenes[i].end_s - scenes[i].start_s - windows[i] * length_s)
        windows[best] += 1
    samples: list[Sample] = []
    for i, k in windows.items():
        scene = scenes[i]
        span_s = scene.end_s - scene.start_s
        length = min(length_s, span_s)
        step = span_s / k
        for j in range(k):
            start = scene.start_s + step * j + (step - length) / 2
            if fps > 0:
                start = math.floor(start * fps + 0.5) / fps  # half up: a centred window stays centred
                length = max(2, int(length * fps)) / fps
            samples.append((round(start, 6), round(min(length, complexity.duration_s - start), 6)))
    return sorted(samples)


def _fixed(width: int, height: int, opts: LadderOptions) -> Ladder:
    fitted = fit_ladder(DEFAULT_LADDER, width, height)
    recipes = tuple(
        replace(r, audio=None, gop_s=opts.gop_s, segment_s=opts.segment_s, preset=opts.preset or r.preset)
        for r in fitted
    )
    return Ladder(points=(), hull=(), rungs=(), recipes=recipes)


@registry.function(
    "media.ladder", queue=QUEUE_MEDIA, isolation="process", timeout_s=ENCODE_S + 60, permanent_errors=PERMANENT
)
def ladder_fn(
    ctx: TaskContext,
    source: Path,
    *,
    options: Mapping[str, Any] | None = None,
    complexity: Path | Mapping[str, Any] | None = None,
    width: int | None = None,
    height: int | None = None,
) -> dict[str, Any]:
    """``{"ladder": Ladder.to_dict() + mode + samples, "recipes": [...]}``; recipes carry no audio."""
    try:
        opts = LadderOptions.model_validate(dict(options or {}))
    except ValueError as exc:
        raise PermanentError(f"ladder options: {exc}") from exc
    facts = video_facts(probe(source)) if not (width and height) or complexity is None else {}
    width, height = width or facts["width"], height or facts["height"]
    samples: Sequence[Sample] = []
    if opts.mode == "fixed":
        made = _fixed(width, height, opts)
    else:
        analysed = Complexity.load(complexity) if complexity is not None else None
        if analysed is not None:
            samples = pick_samples(analysed, count=opts.samples, length_s=opts.sample_s)
        else:
            samples = spread_samples(facts["duration_s"], count=opts.samples, length_s=opts.sample_s)
        made = per_title_ladder(
            source, samples, heights=opts.heights, crfs=opts.crfs, codec=opts.codec, trial_preset=opts.trial_preset,
            preset=opts.preset, n=opts.rungs, min_vmaf=opts.min_vmaf, max_vmaf=opts.max_vmaf,
            floor_vmaf=opts.floor_vmaf, min_step_ratio=opts.min_step_ratio, max_bitrate_kbps=opts.max_bitrate_kbps,
            gop_s=opts.gop_s, segment_s=opts.segment_s, compare_fixed=opts.compare_fixed,
            workdir=ctx.scratch / "trials", timeout_s=ENCODE_S, subsample=opts.subsample,
            progress=reporter(ctx, "ladder trials"),
        )  # fmt: skip
    ctx.progress(1.0, f"{len(made.recipes)} rungs")
    out = {**made.to_dict(), "mode": opts.mode, "samples": [list(s) for s in samples]}
    return {"ladder": out, "recipes": out["recipes"]}


def ladder() -> Workflow:
    wf = Workflow(LADDER, inputs=["source", "options"], priority="standard",
                  description="per-title (or fitted fixed) ladder of one source")  # fmt: skip
    made = wf.task("ladder", "media.ladder", {"options": wf.input("options")}, source=wf.input("source"))
    wf.output("ladder", made["ladder"])
    return wf


registry.add_workflow(ladder())
