"""Target 5: the per-title ladder against ``DEFAULT_LADDER`` by BD-rate, on generated clips.

``per_title_ladder(..., compare_fixed=True)`` with its defaults (heights 1080…240 up to the
source's, CRFs 18…38, x264 ``ultrafast`` trials, the fixed ladder scored at the same preset), one
sample covering the whole clip (longer than the 2 s VBV buffer, so capped fixed rungs are held to
their caps).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.media.clips import Clip, make
from darkroom.media.hull import Point
from darkroom.media.ladder import per_title_ladder

__all__ = ["ClipResult", "run_clip"]


@dataclass
class ClipResult:
    name: str
    what: str
    size: str
    kind: str = ""
    bd_rate_percent: float | None = None
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
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    finally:
        result.elapsed_s = time.monotonic() - started
    result.bd_rate_percent = ladder.bd_rate_percent
    result.fixed = sorted(ladder.fixed, key=lambda p: p.bitrate_kbps)
    result.hull = list(ladder.hull)
    result.rungs = list(ladder.rungs)
    return result
