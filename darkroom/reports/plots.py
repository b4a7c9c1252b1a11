"""The report's plots as inline SVG strings (matplotlib, no pyplot and no display).

Each function returns the ``<svg>`` element alone (no XML prolog), ready to paste into HTML, or
``None`` when there is nothing to draw. Text stays text (``svg.fonttype=none``) and ids are salted
per plot, so several plots can share one page and the same data gives the same bytes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; SVG output goes through matplotlib's own SVG backend

from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from darkroom.reports.build import StepTimingDict, point_height

__all__ = ["complexity_svg", "quality_over_time_svg", "rate_quality_svg", "step_timeline_svg"]

_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)
# No RDF block (creator, date, format): smaller, reproducible, and no URIs in the page.
_NO_METADATA: dict[str, str | None] = {"Creator": None, "Date": None, "Format": None, "Type": None}


def _svg(fig: Figure, salt: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"darkroom-{salt}"}):
        fig.savefig(buf, format="svg", metadata=_NO_METADATA, bbox_inches="tight")
    return _PROLOG.sub("", buf.getvalue(), count=1)


def _finite(points: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        p for p in points
        if isinstance(p.get("bitrate_kbps"), int | float) and p["bitrate_kbps"] > 0
        and isinstance(p.get("vmaf"), int | float) and math.isfinite(p["vmaf"])
    ]  # fmt: skip


def rate_quality_svg(ladder: Mapping[str, Any], renditions: Sequence[Mapping[str, Any]] = ()) -> str | None:
    """Trial points per resolution, the upper convex hull, the chosen rungs and the fixed ladder's
    curve on (bitrate, VMAF) axes, log bitrate; the title gives the BD-rate. ``renditions`` (report
    rows) adds the encoded renditions as measured over the whole title, beside the sample trials."""
    points = _finite(ladder.get("points") or [])
    hull = sorted(_finite(ladder.get("hull") or []), key=lambda p: p["bitrate_kbps"])
    rungs = _finite(ladder.get("rungs") or [])
    fixed = sorted(_finite(ladder.get("fixed") or []), key=lambda p: p["bitrate_kbps"])
    if not (points or hull or fixed):
        return None
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    heights = sorted({point_height(p) for p in points})
    colors = matplotlib.colormaps["viridis"]
    for i, h in enumerate(heights):
        mine = sorted((p for p in points if point_height(p) == h), key=lambda p: p["bitrate_kbps"])
        color = colors(i / max(1, len(heights) - 1) * 0.85)
        ax.plot([p["bitrate_kbps"] for p in mine], [p["vmaf"] for p in mine], "o:", color=color, ms=5, lw=0.8,
                alpha=0.8, label=f"trials {h}p")  # fmt: skip
        for p in mine:
            if p.get("crf") is not None:
                ax.annotate(f"{p['crf']}", (p["bitrate_kbps"], p["vmaf"]), textcoords="offset points", xytext=(3, -9),
                            fontsize=6, color=color)  # fmt: skip
    if hull:
        ax.plot([p["bitrate_kbps"] for p in hull], [p["vmaf"] for p in hull], "-", color="black", lw=1.6,
                label="convex hull")  # fmt: skip
    if rungs:
        ax.plot([p["bitrate_kbps"] for p in rungs], [p["vmaf"] for p in rungs], "o", ms=12, mfc="none", mec="crimson",
                mew=2, label="chosen rungs")  # fmt: skip
        for p in rungs:
            ax.annotate(f"{point_height(p)}p {p['bitrate_kbps']:.0f}k", (p["bitrate_kbps"], p["vmaf"]),
                        textcoords="offset points", xytext=(6, 6), fontsize=7, color="crimson")  # fmt: skip
    if fixed:
        ax.plot([p["bitrate_kbps"] for p in fixed], [p["vmaf"] for p in fixed], "s--", color="tab:orange", ms=6,
                lw=1.4, label="fixed ladder")  # fmt: skip
    anchor = sorted(_finite(ladder.get("anchor") or []), key=lambda p: p["bitrate_kbps"])
    if anchor:
        ax.plot([p["bitrate_kbps"] for p in anchor], [p["vmaf"] for p in anchor], "x:", color="tab:orange", ms=7,
                lw=1.2, label="fixed ladder (whole title)")  # fmt: skip
    encoded = [
        (r["video_bitrate_kbps"], r["quality"]["vmaf"]["mean"], str(r.get("name")))
        for r in renditions
        if isinstance(r.get("video_bitrate_kbps"), int | float) and r["video_bitrate_kbps"] > 0
        and isinstance(((r.get("quality") or {}).get("vmaf") or {}).get("mean"), int | float)
    ]  # fmt: skip
    if encoded:
        ax.plot([e[0] for e in encoded], [e[1] for e in encoded], "*", color="black", ms=10,
                label="renditions (whole title)")  # fmt: skip
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("video bitrate (kbit/s, log)")
    ax.set_ylabel("VMAF (pooled mean)")
    bd = ladder.get("bd_rate_percent")
    title = "Rate-quality: per-title hull vs fixed ladder"
    if isinstance(bd, int | float):
        title += f" (BD-rate {bd:+.1f} %)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _svg(fig, "rate-quality")


def quality_over_time_svg(
    frames: Mapping[str, Mapping[str, Sequence[float]]], *, fps: float | None, metric: str = "vmaf"
) -> str | None:
    """Per-frame ``metric`` over time, one line per rendition (x in seconds when ``fps`` is known)."""
    series = {name: list(scores[metric]) for name, scores in frames.items() if scores.get(metric)}
    if not series:
        return None
    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.add_subplot()
    for name, values in series.items():
        xs = [i / fps for i in range(len(values))] if fps else list(range(len(values)))
        ax.plot(xs, values, lw=1.0, label=name)
    ax.set_xlabel("time (s)" if fps else "frame")
    ax.set_ylabel(f"{metric.upper()} per frame")
    ax.set_title(f"{metric.upper()} over time, per rendition", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _svg(fig, f"over-time-{metric}")


def complexity_svg(complexity: Mapping[str, Any]) -> str | None:
    """Bits per pixel of each scene's fixed-quality pre-encode, over time (scene cuts as steps)."""
    scenes = [s for s in complexity.get("scenes") or [] if isinstance(s.get("bits_per_pixel"), int | float)]
    if not scenes:
        return None
    fig = Figure(figsize=(7.5, 2.4))
    ax = fig.add_subplot()
    for s in scenes:
        ax.bar(s["start_s"], s["bits_per_pixel"], width=s["end_s"] - s["start_s"], align="edge", color="tab:blue",
               alpha=0.6, edgecolor="tab:blue")  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("bits / pixel")
    ax.set_title(f"Complexity per scene ({len(scenes)} scenes)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    return _svg(fig, "complexity")


def step_timeline_svg(steps: Sequence[StepTimingDict]) -> str | None:
    """When each step ran, relative to the first start (a Gantt-style bar per step)."""
    timed = [
        (s, started, ended)
        for s in steps
        if (started := s.get("started_at")) is not None and (ended := s.get("ended_at")) is not None
    ]
    if not timed:
        return None
    t0 = min(started for _, started, _ in timed)
    fig = Figure(figsize=(7.5, 0.4 + 0.35 * len(timed)))
    ax = fig.add_subplot()
    for i, (s, started, ended) in enumerate(timed):
        color = "tab:green" if s.get("state") == "succeeded" else "tab:red"
        ax.barh(i, ended - started, left=started - t0, color=color, alpha=0.7)
    ax.set_yticks(range(len(timed)), [str(s["name"]) for s, _, _ in timed], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first step started")
    ax.grid(True, axis="x", alpha=0.3)
    return _svg(fig, "steps")
