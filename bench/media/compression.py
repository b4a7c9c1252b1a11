"""Target 5: the per-title ladder against ``DEFAULT_LADDER`` by BD-rate, on generated clips.

``per_title_ladder(..., compare_fixed=True)`` with its defaults (heights 1080…240 up to the
source's, CRFs 18…38, trials at the production preset, x264 ``medium``, the fixed ladder scored at
the same preset), one sample covering the whole clip (longer than the 2 s VBV buffer, so capped
fixed rungs are held to their caps). Then the ladder as delivered: its recipes encoded over the
whole clip and scored, checked against their hull points, and a second BD-rate of the delivered
renditions against the fixed ladder (``check_delivered``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.media.clips import Clip, make
from darkroom.media.delivered import DeliveredLadder, Measured, check_delivered
from darkroom.media.encode import encode_ladder
from darkroom.media.hull import FLOOR_VMAF, Point
from darkroom.media.ladder import Ladder, per_title_ladder
from darkroom.media.quality import measure

__all__ = ["ClipResult", "run_clip"]


@dataclass
class ClipResult:
    name: str
    what: str
    size: str
    kind: str = ""
    bd_rate_percent: float | None = None
    bd_rate_delivered_percent: float | None = None
    delivered: dict[str, Any] = field(default_factory=dict)
    fixed: list[Point] = field(default_factory=list)
    hull: list[Point] = field(default_factory=list)
    rungs: list[Point] = field(default_factory=list)
    source_kbps: float = 0.0
    elapsed_s: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "what": self.what,
            "size": self.size,
            "kind": self.kind,
            "bd_rate_percent": self.bd_rate_percent,
            "bd_rate_delivered_percent": self.bd_rate_delivered_percent,
            "delivered": self.delivered,
            "fixed": [p.to_dict() for p in self.fixed],
            "hull": [p.to_dict() for p in self.hull],
            "rungs": [p.to_dict() for p in self.rungs],
            "source_kbps": self.source_kbps,
            "elapsed_s": self.elapsed_s,
            "error": self.error,
        }


def run_clip(clip: Clip, work: Path, *, subsample: int, progress: Callable[[float], None]) -> ClipResult:
    size = f"{clip.width}x{clip.height}, {clip.fps} fps, {clip.duration_s:g} s"
    result = ClipResult(clip.name, clip.what, size, clip.kind)
    started = time.monotonic()
    try:
        source = make(clip)
        result.source_kbps = source.stat().st_size * 8 / clip.duration_s / 1000
        ladder = per_title_ladder(
            source, [(0.0, clip.duration_s)], compare_fixed=True, workdir=work / clip.name, timeout_s=3600,
            subsample=subsample, progress=progress,
        )  # fmt: skip
        delivered = deliver(source, ladder, work / clip.name, subsample=subsample)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    finally:
        result.elapsed_s = time.monotonic() - started
    result.bd_rate_percent = ladder.bd_rate_percent
    result.bd_rate_delivered_percent = delivered.bd_rate_percent
    result.delivered = delivered.to_dict()
    result.fixed = sorted(ladder.fixed, key=lambda p: p.bitrate_kbps)
    result.hull = list(ladder.hull)
    result.rungs = list(ladder.rungs)
    return result


def deliver(source: Path, ladder: Ladder, work: Path, *, subsample: int) -> DeliveredLadder:
    """The ladder's recipes encoded over the whole clip (one decode) and scored with VMAF, checked
    against their hull points and compared with the fixed ladder's points (whole clip too)."""
    work.mkdir(parents=True, exist_ok=True)
    outs = [(work / f"{r.name}.mp4", r) for r in ladder.recipes]
    made = encode_ladder(source, outs, timeout_s=3600)
    measured = []
    for (out, recipe), result in zip(outs, made, strict=True):
        vmaf = measure(source, out, metrics=("vmaf",), subsample=subsample, timeout_s=3600).pooled("vmaf")
        measured.append(Measured(recipe.name, recipe.height, result.video_bitrate / 1000, vmaf.mean, vmaf.p5))
        out.unlink(missing_ok=True)
    rungs = sorted(ladder.rungs, key=lambda p: -p.bitrate_kbps)  # recipes are top first, like these
    return check_delivered(measured, list(rungs), floor_vmaf=FLOOR_VMAF, anchor=ladder.fixed)
