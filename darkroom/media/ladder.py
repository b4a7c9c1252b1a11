"""Per-title ladder generation: trial encodes of sampled scenes, VMAF, hull, rungs, recipes.

Each sampled scene is encoded once per (height, CRF) as the title will be, production preset and
GOP (all trials of a sample from ONE decode), and scored with VMAF against the source at the
source's size. Points are averaged over the samples, the upper convex hull is taken across
resolutions and rungs are picked on it (:mod:`darkroom.media.hull`). :func:`fixed_ladder_curve`
scores ``DEFAULT_LADDER`` the same way so the two can be compared by BD-rate. Whether the
renditions then deliver their hull points is checked by :mod:`darkroom.media.delivered`. Method
and costs: ``docs/media.md``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av

from darkroom.media.encode import encode_ladder
from darkroom.media.errors import InvalidMedia, MediaError, MediaTimeout
from darkroom.media.header import video_header
from darkroom.media.hull import FLOOR_VMAF, Point, bd_rate, pick_rungs, to_recipes, upper_convex_hull
from darkroom.media.progress import Progress, span
from darkroom.media.quality import measure
from darkroom.media.recipe import DEFAULT_LADDER, Recipe, fit_ladder

__all__ = [
    "DEFAULT_CRFS",
    "DEFAULT_HEIGHTS",
    "Ladder",
    "Sample",
    "fixed_ladder_curve",
    "per_title_ladder",
    "spread_samples",
    "title_bitrate",
    "trial_encodes",
]

Sample = tuple[float, float]  # (start_s, duration_s) of a scene of the source
DEFAULT_HEIGHTS = (1080, 720, 540, 360, 240)
DEFAULT_CRFS = (18, 23, 28, 33, 38)  # x264/x265 scale; VP9/AV1 (0-63) want higher values
# Trials run at the production preset unless told otherwise: at x264 ``ultrafast`` the same CRF cost
# 2.7-4.2x the bits of ``medium`` on real footage, so fast trials mispredicted every delivered rung.


@dataclass(frozen=True)
class Ladder:
    """A per-title ladder: every trial point, the hull, the picked rungs and their recipes (top
    first). ``fixed``/``bd_rate_percent``: the default ladder's points and the hull's BD-rate
    against them (negative = the per-title ladder needs fewer bits), when compared."""

    points: tuple[Point, ...]
    hull: tuple[Point, ...]
    rungs: tuple[Point, ...]
    recipes: tuple[Recipe, ...]
    fixed: tuple[Point, ...] = ()
    bd_rate_percent: float | None = None
    encodes: int = 0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": [p.to_dict() for p in self.points],
            "hull": [p.to_dict() for p in self.hull],
            "rungs": [p.to_dict() for p in self.rungs],
            "recipes": [r.to_dict() for r in self.recipes],
            "fixed": [p.to_dict() for p in self.fixed],
            "bd_rate_percent": self.bd_rate_percent,
            "encodes": self.encodes,
            "elapsed_s": self.elapsed_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ladder:
        def pts(key: str) -> tuple[Point, ...]:
            return tuple(Point.from_dict(p) for p in data.get(key, ()))

        bd = data.get("bd_rate_percent")
        return cls(
            pts("points"), pts("hull"), pts("rungs"), tuple(Recipe.from_dict(r) for r in data.get("recipes", ())),
            pts("fixed"), None if bd is None else float(bd), int(data.get("encodes", 0)),
            float(data.get("elapsed_s", 0.0)),
        )  # fmt: skip


def spread_samples(duration_s: float, *, count: int = 3, length_s: float = 2.0) -> list[Sample]:
    """``count`` scenes of ``length_s`` spread evenly over the title (centred in equal slices), for
    when no scene analysis is at hand; a title shorter than the samples is one sample of all of it."""
    if not duration_s > 0 or count < 1 or not length_s > 0:
        raise InvalidMedia(f"cannot sample {count} x {length_s}s from {duration_s}s", code="bad_range")
    if duration_s <= count * length_s:
        return [(0.0, duration_s)]
    step = duration_s / count
    return [(round(step * i + (step - length_s) / 2, 3), length_s) for i in range(count)]


def _remaining(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise MediaTimeout(f"ladder generation ran out of time before {what}")
    return left


@dataclass(frozen=True)
class _Window:
    """A sample as trials encode it, in frames of the source: ``frames`` scored from ``first``, on
    the title's GOP grid, encoded on to ``tail`` frames later."""

    first: int
    frames: int
    tail: int

    @classmethod
    def of(cls, sample: Sample, *, fps: float, keyint: int, total: int) -> _Window:
        """Snap ``sample`` to the GOP grid (whole GOPs when it is at least one long), so its
        keyframes fall where the title's do. The tail (a GOP, at least 2 s: x264's look-ahead)
        is encoded but not counted: it gives the last frames the future the title's encode weighs
        (mbtree), and a bare 2 s sample of the real city clip cost 8-12 % fewer bits than the same
        frames in the whole title; with the tail, 0-8 % fewer.

        No lead-in: one GOP of history before the window closed the rest of the gap, but it needs
        the scored frames read from a seek into the trial file that lands where the source's seek
        does, and seeking MPEG-PS sources is not frame-accurate (the city clip: ``-ss 3.98`` lands
        8 frames late). Encode and reference starting at the same seek point stay aligned."""
        start_s, duration_s = sample
        first = min(round(round(start_s * fps) / keyint) * keyint, max(0, (total - 1) // keyint * keyint))
        frames = max(1, round(duration_s * fps))
        if frames >= keyint:
            frames = max(keyint, round(frames / keyint) * keyint)
        frames = max(1, min(frames, total - first))
        tail = max(0, min(max(keyint, round(2.0 * fps)), total - first - frames))
        return cls(first, frames, tail)


def _score(
    source: Path,
    samples: Sequence[Sample],
    jobs: Sequence[tuple[int, int, Recipe]],
    *,
    keyint: int,
    workdir: Path,
    timeout_s: float,
    threads: int,
    subsample: int,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> list[Point]:
    """Encode every job on every sample (one decode per sample), VMAF each, average over samples.
    Samples are :class:`_Window` s on the ``keyint`` grid; bitrates are :func:`title_bitrate` of the
    window's frames at that GOP."""
    if not samples or not jobs:
        raise InvalidMedia("ladder trials need at least one sample and one encode", code="bad_ladder")
    head = video_header(source)
    total = round(head.duration_s * head.fps) if head.duration_s > 0 else 1 << 40
    deadline = time.monotonic() + timeout_s
    workdir.mkdir(parents=True, exist_ok=True)
    units, done = len(samples) * (1 + len(jobs)), 0  # one encode run + one VMAF pass per job, per sample
    sums = [[0.0, 0.0, 0.0] for _ in jobs]  # weight, weight x bitrate, weight x vmaf

    def tick(part: float = 1.0) -> None:
        if progress is not None:
            progress(min(1.0, (done + part) / units))

    fps = head.fps
    for s, sample in enumerate(samples):
        w = _Window.of(sample, fps=fps, keyint=keyint, total=total)
        outs = [(workdir / f"trial-s{s}-{i}-{h}p-crf{crf}.mp4", r) for i, (h, crf, r) in enumerate(jobs)]
        try:
            encode_ladder(
                source, outs, start_s=w.first / fps or None, duration_s=(w.frames + w.tail) / fps, cancel=cancel,
                progress=None if progress is None else tick, timeout_s=_remaining(deadline, "a trial encode"),
            )  # fmt: skip
            done += 1
            for i, (out, _) in enumerate(outs):
                report = measure(
                    source, out, metrics=("vmaf",), threads=threads, subsample=subsample,
                    start_s=w.first / fps or None, duration_s=w.frames / fps, cancel=cancel,
                    timeout_s=_remaining(deadline, "a VMAF pass"),
                )  # fmt: skip
                weight = w.frames / fps  # scenes weigh by their length
                sums[i][0] += weight
                sums[i][1] += weight * title_bitrate(out, keyint, frames=w.frames) / 1000
                sums[i][2] += weight * report.pooled("vmaf").mean
                done += 1
                tick(0.0)
        finally:
            for out, _ in outs:  # trials are intermediates: never leave them behind
                out.unlink(missing_ok=True)
    if any(w <= 0 for w, _, _ in sums):
        raise MediaError(f"trial encodes of {source.name} came out empty")
    return [Point(h, crf, b / w, v / w) for (h, crf, _), (w, b, v) in zip(jobs, sums, strict=True)]


def title_bitrate(
    path: Path, gop_frames: int | None = None, *, first_frame: int = 0, frames: int | None = None
) -> float:
    """The video bitrate (bit/s) of ``frames`` frames from ``first_frame`` (presentation order; all
    by default) with one keyframe every ``gop_frames`` frames.

    A sample always opens on a keyframe; a sample shorter than the title's GOP therefore carries
    more keyframes per second than the title will, and keyframes cost 5-20x a predicted frame, so
    a 0.5 s sample of a 2 s-GOP title overstated the rung's bitrate. Keyframe and other packet
    sizes are averaged separately and mixed in the title's proportion (``None``: as encoded)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        packets = sorted((p.pts or 0, p.size, bool(p.is_keyframe)) for p in container.demux(stream) if p.size)
    window = packets[first_frame : None if frames is None else first_frame + frames]
    key = [size for _, size, is_key in window if is_key]
    other = [size for _, size, is_key in window if not is_key]
    if not window or not rate > 0:
        return 0.0
    if gop_frames is None or gop_frames <= 1 or not key or not other:
        return (sum(key) + sum(other)) * 8 * rate / len(window)
    per_frame = sum(key) / len(key) / gop_frames + sum(other) / len(other) * (gop_frames - 1) / gop_frames
    return per_frame * 8 * rate


def _width(height: int, source_width: int, source_height: int) -> int:
    return max(16, 2 * round(height * source_width / source_height / 2))


def trial_encodes(
    source: Path,
    samples: Sequence[Sample],
    *,
    heights: Sequence[int] = DEFAULT_HEIGHTS,
    crfs: Sequence[int] = DEFAULT_CRFS,
    codec: str = "h264",
    preset: str | None = None,
    gop_s: float = 2.0,
    workdir: Path,
    timeout_s: float,
    threads: int = 2,
    subsample: int = 1,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[Point]:
    """One :class:`Point` per (height, CRF): bitrate and pooled VMAF mean, each a duration-weighted
    mean over ``samples``. Trials are encoded as the title will be: ``preset`` (the codec's default
    when ``None``, the recipes' own) and ``gop_s`` GOPs, bitrates amortised to that GOP
    (:func:`title_bitrate`). Heights above the source's are skipped (never upscale); if none is
    left the source's own height is used. ``timeout_s`` bounds the whole run."""
    source = Path(source)
    head = video_header(source)
    width, height = head.width, head.height
    usable = sorted({2 * (h // 2) for h in heights if 16 <= h <= height}, reverse=True) or [2 * (height // 2)]
    jobs = [
        (h, crf, Recipe(codec, _width(h, width, height), max(16, h), crf=crf, preset=preset, gop_s=gop_s,
                        segment_s=gop_s))
        for h in usable
        for crf in dict.fromkeys(crfs)
    ]  # fmt: skip
    return _score(source, samples, jobs, keyint=jobs[0][2].keyint(head.fps), workdir=Path(workdir),
                  timeout_s=timeout_s, threads=threads, subsample=subsample, progress=progress,
                  cancel=cancel)  # fmt: skip


def fixed_ladder_curve(
    source: Path,
    samples: Sequence[Sample],
    *,
    ladder: Sequence[Recipe] = DEFAULT_LADDER,
    preset: str | None = None,
    workdir: Path,
    timeout_s: float,
    threads: int = 2,
    subsample: int = 1,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[Point]:
    """Points of ``ladder`` fitted to the source, scored exactly like the trials. ``preset``
    replaces the rungs' own (``None``: kept), so a BD-rate against the trial hull compares ladders
    at equal encoder effort; VBV caps and GOPs are kept."""
    source = Path(source)
    head = video_header(source)
    jobs = []
    for rung in fit_ladder(ladder, head.width, head.height):
        recipe = replace(rung, preset=preset if preset is not None else rung.preset, audio=None)
        jobs.append((recipe.height, recipe.crf if recipe.crf is not None else -1, recipe))
    keyint = jobs[0][2].keyint(head.fps) if jobs else 1
    return _score(source, samples, jobs, keyint=keyint, workdir=Path(workdir), timeout_s=timeout_s,
                  threads=threads, subsample=subsample, progress=progress, cancel=cancel)  # fmt: skip


def per_title_ladder(
    source: Path,
    samples: Sequence[Sample],
    *,
    heights: Sequence[int] = DEFAULT_HEIGHTS,
    crfs: Sequence[int] = DEFAULT_CRFS,
    codec: str = "h264",
    trial_preset: str | None = None,
    preset: str | None = None,
    n: int = 5,
    min_vmaf: float = 40.0,
    max_vmaf: float = 95.0,
    floor_vmaf: float | None = FLOOR_VMAF,
    min_step_ratio: float = 1.5,
    max_bitrate_kbps: float | None = None,
    gop_s: float = 2.0,
    segment_s: float = 4.0,
    compare_fixed: bool = True,
    fixed_ladder: Sequence[Recipe] = DEFAULT_LADDER,
    workdir: Path,
    timeout_s: float,
    threads: int = 2,
    subsample: int = 1,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Ladder:
    """Trials -> hull -> rungs (:func:`~darkroom.media.hull.pick_rungs` rules, none under
    ``floor_vmaf``) -> recipes at ``preset`` (the codec's default when ``None``) on ``gop_s`` /
    ``segment_s``. Trials run at ``trial_preset`` (``None``: ``preset``, so they predict the
    delivered renditions) with the same GOP. With ``compare_fixed`` the ``fixed_ladder`` is scored
    too, at the trials' preset, and ``bd_rate_percent`` set when the two curves share a VMAF range."""
    started = time.monotonic()
    source = Path(source)
    head = video_header(source)
    deadline = started + timeout_s
    trial_preset = trial_preset if trial_preset is not None else preset
    split = 0.8 if compare_fixed else 1.0  # the fixed ladder is ~5 encodes against ~25 trials
    points = trial_encodes(
        source, samples, heights=heights, crfs=crfs, codec=codec, preset=trial_preset, gop_s=gop_s,
        workdir=Path(workdir), timeout_s=timeout_s, threads=threads, subsample=subsample,
        progress=span(progress, 0.0, split), cancel=cancel,
    )  # fmt: skip
    hull = upper_convex_hull(points)
    rungs = pick_rungs(hull, n=n, min_vmaf=min_vmaf, max_vmaf=max_vmaf, floor_vmaf=floor_vmaf,
                       min_step_ratio=min_step_ratio, max_bitrate_kbps=max_bitrate_kbps)  # fmt: skip
    recipes = to_recipes(rungs, codec, source_width=head.width, source_height=head.height, preset=preset,
                         gop_s=gop_s, segment_s=segment_s)  # fmt: skip
    fixed: list[Point] = []
    bd: float | None = None
    if compare_fixed:
        fixed = fixed_ladder_curve(
            source, samples, ladder=fixed_ladder, preset=trial_preset, workdir=Path(workdir), threads=threads,
            subsample=subsample, timeout_s=_remaining(deadline, "scoring the fixed ladder"),
            progress=span(progress, split, 1.0), cancel=cancel,
        )  # fmt: skip
        try:
            bd = bd_rate(sorted(fixed, key=lambda p: p.bitrate_kbps), hull)
        except InvalidMedia:
            bd = None  # e.g. a small source fits one fixed rung: no curve to compare with
    encodes = len(samples) * (len(points) + len(fixed))
    return Ladder(tuple(points), tuple(hull), tuple(rungs), tuple(recipes), tuple(fixed), bd, encodes,
                  time.monotonic() - started)  # fmt: skip
