"""Rate-quality math for per-title ladders: the convex hull, rung picking, BD-rate, recipes.

Pure functions over :class:`Point` (one trial encode: height, CRF, bitrate, VMAF); the trials
themselves are in :mod:`darkroom.media.ladder`. The method is explained in ``docs/media.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from darkroom.media.errors import InvalidMedia
from darkroom.media.recipe import Recipe

__all__ = ["FLOOR_VMAF", "Curve", "Point", "bd_rate", "pick_rungs", "to_recipes", "upper_convex_hull"]


# No rung below this VMAF (per-title trials and delivered renditions alike). The anchors' lowest
# rungs, DEFAULT_LADDER's 240p on the five bench clips (docs/benchmarks.md, section 5), score
# 42.7-70.8, mean 60.4: a per-title rung under 60 is worse than the fixed ladder's usual bottom.
FLOOR_VMAF = 60.0


@dataclass(frozen=True)
class Point:
    """One (resolution, CRF) operating point: mean video bitrate (kbit/s) and mean VMAF."""

    resolution_height: int
    crf: int
    bitrate_kbps: float
    vmaf: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Point:
        return cls(int(data["resolution_height"]), int(data["crf"]), float(data["bitrate_kbps"]), float(data["vmaf"]))


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a.bitrate_kbps - o.bitrate_kbps) * (b.vmaf - o.vmaf) - (a.vmaf - o.vmaf) * (b.bitrate_kbps - o.bitrate_kbps)


def upper_convex_hull(points: Sequence[Point]) -> list[Point]:
    """The upper-left frontier of (bitrate, VMAF) over all resolutions, by increasing bitrate.

    Monotone chain on linear bitrate: every kept point is a vertex (collinear points are dropped),
    bitrate and VMAF both strictly increase and the slopes decrease (concave). Points under the
    frontier, and points past the best VMAF (more bits, no more quality), are dropped. Of equal
    points the smaller resolution wins (cheaper to decode).
    """
    usable = [p for p in points if p.bitrate_kbps > 0 and math.isfinite(p.bitrate_kbps) and math.isfinite(p.vmaf)]
    # Sorted by bitrate, best VMAF first, smaller picture first: the first of each bitrate is the one kept.
    ordered = sorted(usable, key=lambda p: (p.bitrate_kbps, -p.vmaf, p.resolution_height, p.crf))
    hull: list[Point] = []
    for p in ordered:
        if hull and p.bitrate_kbps == hull[-1].bitrate_kbps:
            continue
        if hull and p.vmaf <= hull[-1].vmaf:
            continue  # more bits for no more quality: never on the rising part of the frontier
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()  # hull[-1] lies on or under the chord hull[-2] -> p
        hull.append(p)
    return hull


def pick_rungs(
    hull: Sequence[Point],
    *,
    n: int = 5,
    min_vmaf: float = 40.0,
    max_vmaf: float = 95.0,
    min_step_ratio: float = 1.5,
    max_bitrate_kbps: float | None = None,
    floor_vmaf: float | None = None,
) -> list[Point]:
    """Choose up to ``n`` rungs on the hull, by increasing bitrate.

    The top rung is the cheapest point reaching ``max_vmaf`` (quality past it is not visible),
    else the best point within ``max_bitrate_kbps``. The bottom rung is the cheapest point
    reaching ``min_vmaf`` (else the cheapest point). Rungs in between are the hull points nearest
    to targets spaced evenly in log bitrate (players switch by bandwidth ratios), and from the top
    down each kept rung needs at most ``1 / min_step_ratio`` of the bits of the one above it.
    Points under ``floor_vmaf`` are never rungs; when no point reaches it, the best one is the
    only rung (a title needs one).
    """
    if n < 1 or min_step_ratio < 1.0 or min_vmaf > max_vmaf:
        raise InvalidMedia(f"bad rung rule: n={n} min_step_ratio={min_step_ratio} "
                           f"vmaf=[{min_vmaf}, {max_vmaf}]", code="bad_ladder")  # fmt: skip
    cands = sorted(hull, key=lambda p: p.bitrate_kbps)
    if max_bitrate_kbps is not None:
        cands = [p for p in cands if p.bitrate_kbps <= max_bitrate_kbps]
    if not cands:
        return []
    if floor_vmaf is not None:
        cands = [p for p in cands if p.vmaf >= floor_vmaf] or [max(cands, key=lambda p: p.vmaf)]
    top_i = next((i for i, p in enumerate(cands) if p.vmaf >= max_vmaf), len(cands) - 1)
    cands = cands[: top_i + 1]
    bottom_i = next((i for i, p in enumerate(cands) if p.vmaf >= min_vmaf), len(cands) - 1)
    cands = cands[bottom_i:]
    top, bottom = cands[-1], cands[0]
    if n == 1 or top is bottom:
        return [top]
    lo, hi = math.log(bottom.bitrate_kbps), math.log(top.bitrate_kbps)
    targets = [hi - (hi - lo) * k / (n - 1) for k in range(n)]  # top first
    picked: list[Point] = []
    for target in targets:
        p = min(cands, key=lambda c: abs(math.log(c.bitrate_kbps) - target))
        if picked and (p is picked[-1] or p.bitrate_kbps * min_step_ratio > picked[-1].bitrate_kbps):
            continue
        picked.append(p)
    return picked[::-1]


Curve = Sequence[Point] | Sequence[tuple[float, float]]
_Floats = npt.NDArray[np.float64]


def _curve(curve: Curve) -> tuple[_Floats, _Floats]:
    """(VMAF, log10 bitrate) sorted by VMAF; of equal VMAFs the cheapest point is kept."""
    pairs = [(p.bitrate_kbps, p.vmaf) if isinstance(p, Point) else (float(p[0]), float(p[1])) for p in curve]
    best: dict[float, float] = {}
    for rate, quality in pairs:
        if not rate > 0 or not math.isfinite(rate) or not math.isfinite(quality):
            raise InvalidMedia(f"BD-rate point ({rate}, {quality}) needs a positive bitrate and a VMAF", code="bd_rate")
        best[quality] = min(rate, best.get(quality, rate))
    if len(best) < 2:
        raise InvalidMedia("a BD-rate curve needs 2+ points with distinct VMAF", code="bd_rate")
    q = np.array(sorted(best), dtype=float)
    return q, np.log10([best[v] for v in q.tolist()])


def _pchip_slopes(x: _Floats, y: _Floats) -> _Floats:
    """Fritsch-Carlson slopes: the interpolant stays monotone where the data is (no overshoot)."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    if len(x) == 2:
        return np.array([delta[0], delta[0]])
    d = np.zeros_like(y)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same = delta[:-1] * delta[1:] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        d[1:-1] = np.where(same, (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:]), 0.0)
    for i, (h0, h1, d0, d1) in ((0, (h[0], h[1], delta[0], delta[1])), (-1, (h[-1], h[-2], delta[-1], delta[-2]))):
        end = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(end) != np.sign(d0):
            end = 0.0
        elif np.sign(d0) != np.sign(d1) and abs(end) > abs(3 * d0):
            end = 3 * d0
        d[i] = end
    return d


def _mean_log_rate(q: _Floats, log_rate: _Floats, low: float, high: float, method: str) -> float:
    if method == "cubic":  # the original Bjøntegaard fit: one polynomial over the whole curve
        fit = np.polyint(np.polyfit(q, log_rate, min(3, len(q) - 1)))
        return float((np.polyval(fit, high) - np.polyval(fit, low)) / (high - low))
    # Piecewise cubic Hermite, integrated numerically on a fine grid (exact enough, and simple).
    d = _pchip_slopes(q, log_rate)
    grid = np.linspace(low, high, 2001)
    k = np.clip(np.searchsorted(q, grid, side="right") - 1, 0, len(q) - 2)
    h = q[k + 1] - q[k]
    t = (grid - q[k]) / h
    values = (
        (2 * t**3 - 3 * t**2 + 1) * log_rate[k] + (t**3 - 2 * t**2 + t) * h * d[k]
        + (-2 * t**3 + 3 * t**2) * log_rate[k + 1] + (t**3 - t**2) * h * d[k + 1]
    )  # fmt: skip
    return float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(grid)) / (high - low))


def bd_rate(curve_a: Curve, curve_b: Curve, *, method: str = "pchip") -> float:
    """Bjøntegaard delta rate of B against A, in percent: negative means B needs fewer bits.

    Curves are points or ``(bitrate, vmaf)`` pairs. log10(bitrate) is interpolated as a function
    of VMAF for each curve, both are integrated over the VMAF interval the curves share, and the
    mean log difference is turned into a rate ratio. ``method="pchip"`` (default) is piecewise
    cubic Hermite, which does not overshoot where VMAF saturates; ``"cubic"`` is the original
    single cubic fit (lower degree with fewer than 4 points).
    """
    if method not in ("pchip", "cubic"):
        raise InvalidMedia(f"BD-rate method {method!r} is not pchip or cubic", code="bd_rate")
    q_a, log_a = _curve(curve_a)
    q_b, log_b = _curve(curve_b)
    low, high = max(q_a[0], q_b[0]), min(q_a[-1], q_b[-1])
    if not high > low:
        raise InvalidMedia(f"BD-rate curves share no VMAF interval ({low:.2f} >= {high:.2f})", code="bd_rate")
    diff = _mean_log_rate(q_b, log_b, low, high, method) - _mean_log_rate(q_a, log_a, low, high, method)
    return float((10**diff - 1) * 100)


def _even(value: float) -> int:
    return max(16, 2 * round(value / 2))


def to_recipes(
    rungs: Sequence[Point],
    codec: str = "h264",
    *,
    source_width: int,
    source_height: int,
    preset: str | None = None,
    maxrate_factor: float = 1.5,
    bufsize_factor: float = 2.0,
    gop_s: float = 2.0,
    segment_s: float = 4.0,
) -> list[Recipe]:
    """Recipes for picked rungs, top first (like ``DEFAULT_LADDER``): the rung's CRF at its
    height (width keeps the source aspect), capped by VBV at ``maxrate_factor`` x the measured
    bitrate so a hard scene outside the samples cannot blow past the rung's bandwidth.
    """
    if source_width <= 0 or source_height <= 0 or maxrate_factor < 1.0 or bufsize_factor <= 0:
        raise InvalidMedia(f"bad recipe request: source {source_width}x{source_height}, "
                           f"maxrate x{maxrate_factor}, bufsize x{bufsize_factor}", code="bad_ladder")  # fmt: skip
    recipes: list[Recipe] = []
    for rung in sorted(rungs, key=lambda p: -p.bitrate_kbps):
        maxrate = max(16, math.ceil(rung.bitrate_kbps * maxrate_factor))
        recipes.append(Recipe(
            codec, _even(rung.resolution_height * source_width / source_height), _even(rung.resolution_height),
            crf=rung.crf, maxrate_kbps=maxrate, bufsize_kbps=max(16, math.ceil(maxrate * bufsize_factor)),
            preset=preset, gop_s=gop_s, segment_s=segment_s,
            name=f"{rung.resolution_height}p-{round(rung.bitrate_kbps)}k",
        ))  # fmt: skip
    return recipes
