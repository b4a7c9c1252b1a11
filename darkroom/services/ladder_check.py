"""The ladder checked on what is delivered: ``media.anchor`` (the fixed ladder encoded and scored
over the whole title, the anchor of the delivered BD-rate) and ``media.ladder_check`` (each
whole-title rendition against its hull point; the ladder corrected before packaging).

Both are steps of ``streaming.video``; the rules are :func:`darkroom.media.delivered.check_delivered`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from darkroom.media.delivered import Measured, Tolerance, check_delivered
from darkroom.media.encode import encode_ladder
from darkroom.media.hull import Point
from darkroom.media.ladder import title_bitrate
from darkroom.media.quality import measure
from darkroom.media.recipe import DEFAULT_LADDER, Recipe, fit_ladder
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.runtime.files import BY_REFERENCE
from darkroom.services.common import ENCODE_S, PERMANENT, QUALITY_S, QUEUE_MEDIA, registry, reporter
from darkroom.services.ladder import LadderOptions

__all__ = ["anchor_fn", "ladder_check_fn"]


def _options(options: Mapping[str, object] | None) -> LadderOptions:
    try:
        return LadderOptions.model_validate(dict(options or {}))
    except ValueError as exc:
        raise PermanentError(f"ladder options: {exc}") from exc


@registry.function(
    "media.anchor", queue=QUEUE_MEDIA, isolation="process", timeout_s=ENCODE_S + QUALITY_S, permanent_errors=PERMANENT
)
def anchor_fn(
    ctx: TaskContext, source: Path, *, options: Mapping[str, Any] | None = None, width: int, height: int
) -> dict[str, Any]:
    """``{"points": [...]}``: ``DEFAULT_LADDER`` fitted to the source, encoded over the whole title
    as the per-title renditions are (their preset and GOP) and scored with VMAF. Empty when the
    ladder is fixed, the comparison is off or the fitted ladder has fewer than 2 rungs (no curve)."""
    opts = _options(options)
    fitted = fit_ladder(DEFAULT_LADDER, width, height)
    if opts.mode != "per_title" or not (opts.compare_fixed and opts.compare_delivered) or len(fitted) < 2:
        return {"points": []}
    recipes = [
        replace(r, audio=None, preset=opts.preset or r.preset, gop_s=opts.gop_s, segment_s=opts.segment_s)
        for r in fitted
    ]  # fmt: skip
    outs = [(ctx.scratch / f"anchor-{r.name or r.height}.mp4", r) for r in recipes]
    results = encode_ladder(source, outs, progress=reporter(ctx, "anchor encode", 0.0, 0.3), timeout_s=ENCODE_S)
    points = []
    for i, ((out, recipe), _) in enumerate(zip(outs, results, strict=True)):
        report = measure(
            source, out, metrics=("vmaf",), subsample=opts.subsample, timeout_s=QUALITY_S,
            progress=reporter(ctx, f"anchor {recipe.name}", 0.3 + 0.7 * i / len(outs), 0.7 / len(outs)),
        )  # fmt: skip
        points.append(Point(recipe.height, recipe.crf if recipe.crf is not None else -1,
                            title_bitrate(out) / 1000, report.pooled("vmaf").mean).to_dict())  # fmt: skip
        out.unlink(missing_ok=True)
    return {"points": points}


def _vmaf(entry: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    pooled = ((entry or {}).get("pooled") or {}).get("vmaf") or {}
    mean, p5 = pooled.get("mean"), pooled.get("p5")
    return (None if mean is None else float(mean)), (None if p5 is None else float(p5))


@registry.function("media.ladder_check", queue=QUEUE_MEDIA, timeout_s=120, permanent_errors=PERMANENT)
def ladder_check_fn(
    ctx: TaskContext,
    ladder: Mapping[str, Any],
    renditions: Annotated[Sequence[Mapping[str, Any]], BY_REFERENCE],
    quality: Sequence[Mapping[str, Any]],
    *,
    options: Mapping[str, Any] | None = None,
    anchor: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``{"ladder", "renditions", "quality"}``: the ladder with ``delivered`` (every rendition
    against its hull point) and ``bd_rate_delivered_percent``; the renditions and quality entries
    that stay, named after what they deliver. A fixed ladder is measured and reported, not changed.

    Only numbers are read (each rendition's ``video_bitrate``, from its encode, and its pooled
    VMAF): the renditions arrive by reference, no media is downloaded, and the kept ones leave
    with the same blob references."""
    opts = _options(options)
    per_title = ladder.get("mode", "per_title") == "per_title"
    recipes = [Recipe.from_dict(r) for r in ladder.get("recipes") or []]
    rungs = sorted((Point.from_dict(p) for p in ladder.get("rungs") or []), key=lambda p: -p.bitrate_kbps)
    plan = {r.name: p for r, p in zip(recipes, rungs, strict=False)} if per_title else {}
    scores = {str(q.get("name")): q for q in quality}
    measured, planned = [], []
    for r in renditions:
        name = str(r["name"])
        vmaf, p5 = _vmaf(scores.get(name))
        height = int(r["recipe"]["height"])
        measured.append(Measured(name, height, float(r.get("video_bitrate") or 0) / 1000, vmaf, p5))
        planned.append(plan.get(name))
    checked = check_delivered(
        measured, planned, floor_vmaf=opts.floor_vmaf if per_title else None, min_step_ratio=opts.min_step_ratio,
        tolerance=Tolerance(opts.bitrate_tolerance, opts.vmaf_tolerance), correct=opts.correct and per_title,
        anchor=[Point.from_dict(dict(p)) for p in anchor or []],
    )  # fmt: skip
    if not checked.kept:
        raise PermanentError(f"no rendition of {[m.name for m in measured]} is left to deliver")
    names = {r.planned_name: r.name for r in checked.kept}
    kept = [
        {**r, "name": names[r["name"]], "recipe": {**r["recipe"], "name": names[r["name"]]}}
        for r in renditions
        if r["name"] in names
    ]
    scored = [{**q, "name": names[q["name"]]} for q in quality if q.get("name") in names]
    dropped = len(renditions) - len(kept)
    ctx.progress(1.0, f"{len(kept)} renditions kept, {dropped} dropped")
    out = {
        **ladder, "delivered": checked.to_dict(), "bd_rate_delivered_percent": checked.bd_rate_percent,
        "anchor": [dict(p) for p in anchor or []],
    }  # fmt: skip
    return {"ladder": out, "renditions": kept, "quality": scored}
