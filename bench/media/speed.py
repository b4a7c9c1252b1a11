"""Targets 1-3: Darkroom's media calls against the plain ffmpeg command doing the same work.

Both sides run on the same input in this process, repetitions interleaved (D F, F D, D F, …) so
load from other work on the machine falls on both; every repetition records wall time and CPU time
(this process + its children, i.e. ffmpeg). The plain commands are written out here by hand, not
built with Darkroom's code, so a flag Darkroom adds or drops shows up as a difference in output
(each comparison also checks that both sides produced the same bytes / the same score).
"""

from __future__ import annotations

import json
import resource
import shlex
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from darkroom.media.encode import encode, encode_ladder
from darkroom.media.ffmpeg import ffmpeg_exe
from darkroom.media.quality import measure
from darkroom.media.recipe import DEFAULT_LADDER, Recipe

__all__ = ["Comparison", "Timing", "compare_encode", "compare_ladder", "compare_vmaf", "rendition_720p"]

Progress = Callable[[float], None]
VMAF_THREADS = 2


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float  # user + system, this process and the children it waited for


@dataclass
class Comparison:
    key: str  # "encode" | "ladder" | "vmaf"
    title: str
    darkroom_call: str
    ffmpeg_command: str
    frames: int
    darkroom: list[Timing] = field(default_factory=list)
    ffmpeg: list[Timing] = field(default_factory=list)
    check: str = ""  # what was compared between the two outputs, and whether it matched
    same_output: bool | None = None

    @staticmethod
    def _best(ts: list[Timing]) -> float:
        return min(t.wall_s for t in ts)

    @property
    def speed_ratio(self) -> float:
        """Darkroom's speed as a fraction of ffmpeg's, best run against best run."""
        return self._best(self.ffmpeg) / self._best(self.darkroom)

    @property
    def median_ratio(self) -> float:
        return statistics.median(t.wall_s for t in self.ffmpeg) / statistics.median(t.wall_s for t in self.darkroom)

    @property
    def cpu_ratio(self) -> float:
        """ffmpeg's CPU seconds over Darkroom's (medians): 1.0 = the same work."""
        return statistics.median(t.cpu_s for t in self.ffmpeg) / statistics.median(t.cpu_s for t in self.darkroom)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "darkroom_call": self.darkroom_call,
            "ffmpeg_command": self.ffmpeg_command,
            "frames": self.frames,
            "darkroom": [vars(t) for t in self.darkroom],
            "ffmpeg": [vars(t) for t in self.ffmpeg],
            "check": self.check,
            "same_output": self.same_output,
            "speed_ratio": self.speed_ratio,
            "median_ratio": self.median_ratio,
            "cpu_ratio": self.cpu_ratio,
        }


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], object]) -> Timing:
    cpu, wall = _cpu(), time.perf_counter()
    fn()
    return Timing(time.perf_counter() - wall, _cpu() - cpu)


def _ffmpeg(args: list[str]) -> None:
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"plain ffmpeg failed ({done.returncode}): {done.stderr.decode(errors='replace')[-800:]}")


def _shown(args: list[str], names: dict[Path, str]) -> str:
    text = shlex.join(["ffmpeg", *args])
    for path, name in names.items():
        text = text.replace(str(path), name)
    return text


def _interleave(
    comparison: Comparison, ours: Callable[[], object], theirs: Callable[[], object], *, repeats: int, warmup: bool,
    step: Callable[[], None],
) -> None:  # fmt: skip
    """Warm up both sides once (not counted), then alternate which side goes first."""
    if warmup:
        ours()
        theirs()
        step()
    for i in range(repeats):
        pair = [(comparison.darkroom, ours), (comparison.ffmpeg, theirs)]
        for sink, fn in pair if i % 2 == 0 else reversed(pair):
            sink.append(_timed(fn))
            step()


def _x264(r: Recipe, fps: float) -> list[str]:
    """The plain command's encoder flags for a DEFAULT_LADDER rung (x264, capped CRF, fixed GOP)."""
    k = round(r.gop_s * fps)
    return [
        "-c:v", "libx264", "-profile:v", str(r.profile), "-preset", str(r.preset),
        "-x264-params", f"keyint={k}:scenecut=0:open-gop=0", "-pix_fmt", "yuv420p",
        "-crf", str(r.crf), "-maxrate", f"{r.maxrate_kbps}k", "-bufsize", f"{r.bufsize_kbps}k",
        "-an", "-movflags", "+faststart",
    ]  # fmt: skip


def _video_bytes(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(p.size for p in container.demux(container.streams.video[0]) if p.size)


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size)


def _fps(path: Path) -> float:
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        return float(rate) if rate else 0.0


def rendition_720p(source: Path, work: Path, *, progress: Progress) -> Path:
    """Darkroom's 720p rendition alone (what the VMAF comparison scores), when encode is not compared."""
    out = work / "darkroom-720p.mp4"
    encode(source, out, next(r for r in DEFAULT_LADDER if r.name == "720p"), progress=progress, timeout_s=900)
    return out


def compare_encode(
    source: Path, work: Path, *, repeats: int, warmup: bool, progress: Progress, step: Callable[[], None]
) -> tuple[Comparison, Path]:
    """One DEFAULT_LADDER rung (720p). Returns the comparison and Darkroom's output (for VMAF)."""
    recipe = next(r for r in DEFAULT_LADDER if r.name == "720p")
    ours_out, theirs_out = work / "darkroom-720p.mp4", work / "ffmpeg-720p.mp4"
    scale = f"scale={recipe.width}:{recipe.height}:flags=lanczos"
    args = ["-i", str(source), "-vf", scale, *_x264(recipe, _fps(source)), str(theirs_out)]
    c = Comparison(
        "encode",
        f"single rendition: {source.name} → DEFAULT_LADDER 720p (x264 {recipe.preset}, CRF {recipe.crf}, "
        f"VBV {recipe.maxrate_kbps}k/{recipe.bufsize_kbps}k, {recipe.gop_s:g} s GOP)",
        "darkroom.media.encode.encode(SRC, OUT, DEFAULT_LADDER[1], progress=…)",
        _shown(args, {source: "SRC", theirs_out: "OUT.mp4"}),
        _frames(source),
    )
    _interleave(
        c, lambda: encode(source, ours_out, recipe, progress=progress, timeout_s=900), lambda: _ffmpeg(args),
        repeats=repeats, warmup=warmup, step=step,
    )  # fmt: skip
    a, b = _video_bytes(ours_out), _video_bytes(theirs_out)
    c.same_output = a == b
    c.check = f"video bytes {a:,} vs {b:,}" + (" (identical)" if a == b else " (differ)")
    return c, ours_out


def compare_ladder(
    source: Path, work: Path, *, repeats: int, warmup: bool, progress: Progress, step: Callable[[], None]
) -> Comparison:
    """720p + 480p + 360p of DEFAULT_LADDER from one decode, against one ffmpeg with split=3."""
    rungs = [r for r in DEFAULT_LADDER if r.name in ("720p", "480p", "360p")]
    ours = [(work / f"darkroom-ladder-{r.name}.mp4", r) for r in rungs]
    theirs = [work / f"ffmpeg-ladder-{r.name}.mp4" for r in rungs]
    fps = _fps(source)
    graph = "[0:v]split=3" + "".join(f"[s{i}]" for i in range(3))
    graph += "".join(f";[s{i}]scale={r.width}:{r.height}:flags=lanczos[v{i}]" for i, r in enumerate(rungs))
    args = ["-i", str(source), "-filter_complex", graph]
    for i, (r, out) in enumerate(zip(rungs, theirs, strict=True)):
        args += ["-map", f"[v{i}]", *_x264(r, fps), str(out)]
    names: dict[Path, str] = {source: "SRC", **{out: f"OUT_{r.name}.mp4" for r, out in zip(rungs, theirs, strict=True)}}
    c = Comparison(
        "ladder",
        f"three-rung ladder from one decode: {source.name} → 720p, 480p, 360p (DEFAULT_LADDER rungs, "
        f"x264 {rungs[0].preset})",
        "darkroom.media.encode.encode_ladder(SRC, [(OUT_720p, DEFAULT_LADDER[1]), …[2], …[3]], progress=…)",
        _shown(args, names),
        _frames(source),
    )
    _interleave(
        c, lambda: encode_ladder(source, ours, progress=progress, timeout_s=900), lambda: _ffmpeg(args),
        repeats=repeats, warmup=warmup, step=step,
    )  # fmt: skip
    sizes = [(_video_bytes(o), _video_bytes(t)) for (o, _), t in zip(ours, theirs, strict=True)]
    c.same_output = all(a == b for a, b in sizes)
    c.check = "video bytes " + ", ".join(f"{r.name} {a:,} vs {b:,}" for r, (a, b) in zip(rungs, sizes, strict=True))
    c.check += " (identical)" if c.same_output else " (differ)"
    return c


def compare_vmaf(
    reference: Path, distorted: Path, work: Path, *, repeats: int, warmup: bool, progress: Progress,
    step: Callable[[], None],
) -> Comparison:  # fmt: skip
    """VMAF only, n_threads=2, the distorted upscaled (bicubic) to the reference's size."""
    with av.open(str(reference)) as container:
        s = container.streams.video[0]
        width, height = s.width, s.height
    log = work / "ffmpeg-vmaf.json"
    graph = (
        f"[0:v]scale={width}:{height}:flags=bicubic[d];"
        f"[d][1:v]libvmaf=n_threads={VMAF_THREADS}:log_fmt=json:log_path={log}"
    )
    args = ["-i", str(distorted), "-i", str(reference), "-lavfi", graph, "-f", "null", "-"]
    c = Comparison(
        "vmaf",
        f"VMAF of the 720p rendition against {reference.name} ({width}x{height}), n_threads={VMAF_THREADS}",
        f'darkroom.media.quality.measure(REF, DIST, metrics=("vmaf",), threads={VMAF_THREADS}, progress=…)',
        _shown(args, {reference: "REF", distorted: "DIST", log: "LOG.json"}),
        _frames(reference),
    )
    scores: list[float] = []

    def ours() -> None:
        report = measure(
            reference, distorted, metrics=("vmaf",), threads=VMAF_THREADS, progress=progress, timeout_s=900
        )
        scores.append(report.pooled("vmaf").mean)

    _interleave(c, ours, lambda: _ffmpeg(args), repeats=repeats, warmup=warmup, step=step)
    theirs = float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])
    c.same_output = abs(scores[-1] - theirs) < 1e-6
    c.check = f"pooled VMAF mean {scores[-1]:.4f} vs {theirs:.4f}" + (" (identical)" if c.same_output else " (differ)")
    return c
