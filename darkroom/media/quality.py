"""Quality: VMAF, PSNR and SSIM of an encode against its source, per frame, with libvmaf.

One ffmpeg pass computes every requested metric (libvmaf runs the VMAF model and the ``psnr`` and
``float_ssim`` features side by side and writes one JSON log). If that pass fails, each metric is
measured in its own pass and the ones that still fail are reported as errors, so one broken metric
never hides the others. Chunks scored separately are joined by :func:`concat_frames`.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from darkroom.media.errors import InvalidMedia, MediaError, MediaTimeout
from darkroom.media.ffmpeg import run
from darkroom.media.header import VideoHeader, video_header
from darkroom.media.progress import Progress, rising, span
from darkroom.media.seek import Entry, entry

__all__ = ["METRICS", "MetricResult", "Pooled", "QualityReport", "concat_frames", "measure", "pool"]

# metric -> libvmaf feature (None: the VMAF model itself) and the per-frame key in its JSON log.
# Any other lower-case name is passed to libvmaf as a feature name (e.g. "cambi", "float_ms_ssim").
METRICS: dict[str, tuple[str | None, str]] = {
    "vmaf": (None, "vmaf"),
    "psnr": ("psnr", "psnr_y"),  # luma PSNR; libvmaf caps it at 60 dB for 8-bit (identical frames)
    "ssim": ("float_ssim", "float_ssim"),  # luma SSIM
    "ms_ssim": ("float_ms_ssim", "float_ms_ssim"),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_MODEL = re.compile(r"^[a-z0-9_.]{1,40}$")


@dataclass(frozen=True)
class Pooled:
    """Pooled per-frame scores. ``harmonic_mean`` is libvmaf's: ``n / sum(1 / (1 + x)) - 1``."""

    mean: float
    harmonic_mean: float
    p5: float
    min: float


def pool(values: Sequence[float]) -> Pooled:
    if not values:
        raise ValueError("cannot pool zero frames")
    a = np.asarray(values, dtype=np.float64)
    return Pooled(
        mean=float(a.mean()),
        harmonic_mean=float(len(a) / np.sum(1.0 / (1.0 + a)) - 1.0),
        p5=float(np.percentile(a, 5)),
        min=float(a.min()),
    )


@dataclass(frozen=True)
class MetricResult:
    """One metric: frame numbers (of the compared range) and their scores, or an error."""

    name: str
    frames: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    error: str | None = None

    @property
    def pooled(self) -> Pooled | None:
        return pool(self.values) if self.values and self.error is None else None

    def to_dict(self) -> dict[str, Any]:
        pooled = self.pooled
        return {
            "frames": list(self.frames),
            "values": list(self.values),
            "pooled": None if pooled is None else vars(pooled).copy(),
            "error": self.error,
        }


@dataclass(frozen=True)
class QualityReport:
    """Scores of ``distorted`` against ``reference``, compared at ``width`` x ``height``."""

    reference: str
    distorted: str
    width: int
    height: int
    frame_count: int  # frames compared (with subsampling, more than the frames scored)
    subsample: int
    metrics: Mapping[str, MetricResult] = field(default_factory=dict)
    elapsed_s: float = 0.0
    passes: int = 0

    @property
    def errors(self) -> dict[str, str]:
        return {name: m.error for name, m in self.metrics.items() if m.error is not None}

    def pooled(self, metric: str) -> Pooled:
        """Pooled scores of ``metric``; raises :class:`MediaError` if it failed."""
        result = self.metrics[metric]
        pooled = result.pooled
        if pooled is None:
            raise MediaError(f"{metric} was not measured: {result.error or 'no frames'}")
        return pooled

    def to_dict(self) -> dict[str, Any]:
        head = {k: getattr(self, k) for k in ("reference", "distorted", "width", "height", "frame_count", "subsample")}
        metrics = {name: m.to_dict() for name, m in self.metrics.items()}
        return {**head, "elapsed_s": self.elapsed_s, "passes": self.passes, "metrics": metrics}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualityReport:
        """Inverse of :meth:`to_dict` (pooled values are recomputed from the frames)."""
        metrics = {
            name: MetricResult(
                name, tuple(int(f) for f in m["frames"]), tuple(float(v) for v in m["values"]), m["error"]
            )
            for name, m in data["metrics"].items()
        }
        return cls(
            str(data["reference"]), str(data["distorted"]), int(data["width"]), int(data["height"]),
            int(data["frame_count"]), int(data["subsample"]), metrics, float(data["elapsed_s"]), int(data["passes"]),
        )  # fmt: skip


def concat_frames(reports: Sequence[QualityReport]) -> QualityReport:
    """Join the reports of consecutive chunks: frame numbers shifted by the frames before them.

    A metric that failed in any chunk fails in the whole (naming the chunk); the others are kept.
    """
    if not reports:
        raise ValueError("concat_frames needs at least one report")
    names: list[str] = []
    for report in reports:
        names += [n for n in report.metrics if n not in names]
    joined: dict[str, MetricResult] = {}
    for name in names:
        frames: list[int] = []
        values: list[float] = []
        error = None
        offset = 0
        for i, report in enumerate(reports):
            part = report.metrics.get(name)
            if part is None or part.error is not None:
                error = error or f"chunk {i}: {part.error if part else 'not measured'}"
            else:
                frames += [offset + f for f in part.frames]
                values += part.values
            offset += report.frame_count
        joined[name] = MetricResult(name, () if error else tuple(frames), () if error else tuple(values), error)
    first = reports[0]
    return QualityReport(
        reference=_join(r.reference for r in reports), distorted=_join(r.distorted for r in reports),
        width=first.width, height=first.height, frame_count=sum(r.frame_count for r in reports),
        subsample=max(r.subsample for r in reports), metrics=joined,
        elapsed_s=sum(r.elapsed_s for r in reports), passes=sum(r.passes for r in reports),
    )  # fmt: skip


def _join(items: Any) -> str:
    return " + ".join(dict.fromkeys(items))


def _escape(value: str) -> str:
    """Escape a filter option value twice: for the option parser, then for the filtergraph parser."""
    for ch in "\\':":
        value = value.replace(ch, "\\" + ch)
    for ch in "\\'[],;":
        value = value.replace(ch, "\\" + ch)
    return value


def _input(path: Path, video: VideoHeader, start_s: float | None, duration_s: float | None) -> list[str]:
    """A rendition (constant rate) is seeked half a frame early, like encode did, so the frame at
    ``start_s`` is the first one compared."""
    args = ["-ss", f"{max(0.0, start_s - 0.5 / video.fps):.6f}"] if start_s else []
    if duration_s is not None:
        args += ["-t", f"{duration_s:.6f}"]
    return [*args, "-i", str(path)]


def _on_grid(video: VideoHeader, at: Entry | None, *, duration_s: float | None) -> str:
    """The source's frames on its output-rate grid, as encode puts them (framerate.py): a
    variable-rate reference is compared frame by frame with renditions made from it. The reference
    is seeked like encode seeks a source (:func:`~darkroom.media.seek.entry`), so the frame shown at
    ``start_s`` is the first one kept; no ``-t``, which would count from wherever the seek landed."""
    skip = at.skip_frames if at is not None else 0
    grid = f"fps={video.output_fps}:start_time=0,trim=start_frame={skip}"
    if duration_s is not None:
        grid += f":end_frame={skip + max(1, round(duration_s * video.output_fps))}"
    return grid + ",setpts=PTS-STARTPTS"


@dataclass(frozen=True)
class _Job:
    inputs: list[str]
    prefix: str  # filters up to the libvmaf options
    options: str  # libvmaf options shared by every pass
    duration_s: float
    timeout_at: float
    cancel: threading.Event | None


def _pass(
    job: _Job, names: Sequence[str], log: Path, model: str, progress: Progress | None
) -> tuple[dict[str, MetricResult], int]:
    features = [METRICS.get(n, (n, n))[0] for n in names]
    opts = f"model={'version=' + model if 'vmaf' in names else ''}"
    wanted = [f for f in features if f is not None]
    if wanted:
        opts += ":feature=" + "|".join(f"name={f}" for f in wanted)
    graph = f"{job.prefix}{opts}:{job.options}:log_fmt=json:log_path={_escape(str(log))}"
    remaining = job.timeout_at - time.monotonic()
    result = run(
        [*job.inputs, "-lavfi", graph, "-f", "null", "-"], timeout_s=max(remaining, 0.001),
        duration_s=job.duration_s or None, progress=progress, cancel=job.cancel, loglevel="info",
        what=f"measuring {', '.join(names)}",
    )  # fmt: skip
    try:
        frames = json.loads(log.read_text())["frames"]
        numbers = tuple(int(f["frameNum"]) for f in frames)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"libvmaf's log of {', '.join(names)} is unreadable: {exc}") from exc
    counted = re.findall(r"frame=\s*(\d+)", result.stderr)
    frame_count = int(counted[-1]) if counted else (numbers[-1] + 1 if numbers else 0)
    out: dict[str, MetricResult] = {}
    for name in names:
        key = METRICS.get(name, (name, name))[1]
        sample = frames[0]["metrics"] if frames else {}
        if key not in sample:  # a raw libvmaf feature may log under a longer key (ciede -> ciede2000)
            key = next((k for k in sample if k.startswith(key)), key)
        try:
            values = tuple(float(f["metrics"][key]) for f in frames)
        except KeyError:
            out[name] = MetricResult(name, error=f"libvmaf logged no {key!r} per frame")
            continue
        out[name] = MetricResult(name, numbers, values) if values else MetricResult(name, error="no frames compared")
    return out, frame_count


def _isolated(
    job: _Job, names: list[str], tmp: Path, model: str, progress: Progress | None
) -> tuple[dict[str, MetricResult], int, int]:
    """All metrics in one pass; if it fails, one pass per metric. Returns results, frames, passes."""
    try:
        results, frame_count = _pass(job, names, tmp / "all.json", model, progress)
        return results, frame_count, 1
    except MediaError as exc:
        if isinstance(exc, MediaTimeout) or (job.cancel is not None and job.cancel.is_set()):
            raise
        if len(names) == 1:
            return {names[0]: MetricResult(names[0], error=str(exc))}, 0, 1
    results, frame_count = {}, 0
    for i, name in enumerate(names):
        try:
            one, count = _pass(
                job, [name], tmp / f"{i}.json", model, span(progress, i / len(names), (i + 1) / len(names))
            )
        except MediaError as exc:
            if isinstance(exc, MediaTimeout) or (job.cancel is not None and job.cancel.is_set()):
                raise
            one, count = {name: MetricResult(name, error=str(exc))}, 0
        results.update(one)
        frame_count = max(frame_count, count)
    return results, frame_count, 1 + len(names)


def measure(
    reference: Path,
    distorted: Path,
    *,
    metrics: Sequence[str] = ("vmaf", "psnr", "ssim"),
    threads: int = 2,
    subsample: int = 1,
    start_s: float | None = None,
    distorted_start_s: float | None = None,
    duration_s: float | None = None,
    vmaf_model: str = "vmaf_v0.6.1",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout_s: float,
) -> QualityReport:
    """Score ``distorted`` against ``reference`` (upscaled to its size, bicubic), frame by frame.

    ``start_s``/``duration_s`` select the reference range a chunk was encoded from
    (``distorted_start_s`` seeks the distorted too). Raises for unreadable inputs, timeout and
    cancel; a metric that cannot be measured is an error inside the report.
    """
    names = list(dict.fromkeys(metrics))
    for name in names:
        if not _NAME.match(name):
            raise InvalidMedia(f"metric {name!r} is not a metric or libvmaf feature name", code="bad_metric")
    if not names or threads < 1 or subsample < 1 or not _MODEL.match(vmaf_model):
        raise InvalidMedia(f"bad quality request: metrics={names} threads={threads} subsample={subsample} "
                           f"vmaf_model={vmaf_model!r}", code="bad_metric")  # fmt: skip
    ref, dist = video_header(Path(reference), require_fps=False), video_header(Path(distorted), require_fps=False)
    if not ref.fps > 0 or not dist.fps > 0:
        raise InvalidMedia(f"no usable frame rate in {Path(reference).name} or {Path(distorted).name}", code="bad_fps")
    pix = "yuv420p10le" if ref.ten_bit or dist.ten_bit else "yuv420p"
    # VMAF compares frame n with frame n at one size: the distorted is upscaled to the reference
    # (the standard viewing model: every rung is shown on the same screen) and, if its rate
    # differs, resampled to the reference's output rate (which is the reference's own, unless it
    # is variable: then the constant rate its renditions were encoded at).
    out_fps = ref.output_fps
    started = time.monotonic()
    first = round((start_s or 0.0) * out_fps)
    at = entry(Path(reference), ref, first, timeout_s=timeout_s, cancel=cancel) if first > 0 else None
    rate = f"fps={out_fps}," if abs(float(out_fps) - dist.fps) > 0.01 else ""
    prefix = (
        f"[0:v]setpts=PTS-STARTPTS,{rate}scale={ref.width}:{ref.height}:flags=bicubic,format={pix}[d];"
        f"[1:v]{_on_grid(ref, at, duration_s=duration_s)},format={pix}[r];[d][r]libvmaf="
    )
    span = min(ref.duration_s - (start_s or 0), dist.duration_s - (distorted_start_s or 0))
    inputs = _input(Path(distorted), dist, distorted_start_s, duration_s)
    inputs += at.input_args() if at is not None else []
    inputs += ["-i", str(reference)]
    span = max(0.0, min(span, duration_s) if duration_s else span)
    options = f"n_threads={threads}:n_subsample={subsample}:shortest=1"
    job = _Job(inputs, prefix, options, span, started + timeout_s, cancel)
    rising_progress = rising(progress)
    with tempfile.TemporaryDirectory(prefix="darkroom-quality-") as tmp:
        results, frame_count, passes = _isolated(job, names, Path(tmp), vmaf_model, rising_progress)
    if rising_progress is not None:
        rising_progress(1.0)
    return QualityReport(
        str(reference), str(distorted), ref.width, ref.height, frame_count, subsample,
        {n: results[n] for n in names}, time.monotonic() - started, passes,
    )  # fmt: skip
