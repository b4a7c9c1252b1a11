"""``make bench-media``: Darkroom's media layer against plain ffmpeg, the platform's overhead per
job, and the per-title ladder against the fixed one, in one run on this machine.

    python -m bench.media.run                      # everything (about 8 minutes on 2 cores)
    python -m bench.media.run --quick              # fewer repetitions, shorter clips: a smoke run
    python -m bench.media.run --only encode vmaf   # some stages (encode ladder vmaf overhead compression)

Writes the media section of docs/benchmarks.md (unless --no-write) and the raw numbers to
bench/results/media-latest.json (git-ignored). Generated clips are cached under
.darkroom/bench-media/clips/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.media import clips, compression, overhead, report, speed
from darkroom.media.ffmpeg import ffmpeg_exe

REPO = Path(__file__).resolve().parents[2]
STAGES = ("encode", "ladder", "vmaf", "overhead", "compression")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 repetitions, 2 platform jobs, 2 s compression clips")
    p.add_argument("--only", nargs="*", choices=STAGES, help="only these stages")
    p.add_argument("--repeats", type=int, help="timed runs per side for stages 1-3 (default 3; --quick 2)")
    p.add_argument("--jobs", type=int, help="platform jobs after the cold one (default 5; --quick 2)")
    p.add_argument("--subsample", type=int, help="VMAF n_subsample for the ladder comparison (default 5)")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    return p.parse_args()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _ffmpeg_version() -> str:
    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, timeout=30, check=False).stdout
    first = out.splitlines()[0] if out else "ffmpeg (version unknown)"
    return " ".join(first.split()[:3]) + " (the static build imageio-ffmpeg ships)"


def _options(args: argparse.Namespace, stages: list[str]) -> str:
    parts = [f"stages: {', '.join(stages)}"]
    if any(s in stages for s in ("encode", "ladder", "vmaf")):
        t = clips.TIMING
        warm = "one untimed warm-up run per side, then " if not args.quick else ""
        parts.append(
            f"1-3 on a {t.width}x{t.height} {t.fps} fps {t.duration_s:g} s clip ({t.what}): "
            f"{warm}best of {args.repeats} interleaved runs per side"
        )
    if "overhead" in stages:
        parts.append(f"4: 1 cold + {args.jobs} platform jobs")
    if "compression" in stages:
        parts.append(f"5: {len(clips.COMPLEXITY)} generated clips and real footage, VMAF n_subsample={args.subsample}")
    return "; ".join(parts)


def main() -> None:
    args = _parse()
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.jobs = args.jobs or (2 if args.quick else 5)
    args.subsample = args.subsample or 5
    stages = [s for s in STAGES if not args.only or s in args.only]
    console = Console(width=200)
    started = time.monotonic()
    res = report.Results(report.describe(), _options(args, stages), _ffmpeg_version())
    tmp = Path(tempfile.mkdtemp(prefix="darkroom-bench-media-"))
    complexity = [c.resized(c.width, c.height, 2.0) if args.quick else c for c in clips.COMPLEXITY]
    complexity.append(clips.CITY)  # real footage, whole (checked on real footage, not only generated clips)
    speed_stages = [s for s in stages if s in ("encode", "ladder", "vmaf")]
    units = len(speed_stages) * (2 * args.repeats + (0 if args.quick else 1))
    units += (1 + args.jobs) * ("overhead" in stages) + len(complexity) * ("compression" in stages)
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), console=console,
        ) as bar:  # fmt: skip
            total = bar.add_task("[bold]bench-media", total=units)
            current = bar.add_task("preparing clips", total=1.0)

            def step() -> None:
                bar.advance(total)

            def stage(name: str) -> Callable[[float], None]:
                res.load_samples.append(f"{name} {_load()}")
                bar.update(current, description=name, completed=0.0)
                return lambda fraction: bar.update(current, completed=fraction)

            source = clips.make(clips.TIMING) if speed_stages else None
            warm = not args.quick
            out_720p: Path | None = None
            if source is not None and "encode" in stages:
                progress = stage("1. single rendition")
                c, out_720p = speed.compare_encode(
                    source, tmp, repeats=args.repeats, warmup=warm, progress=progress, step=step
                )
                res.speed.append(c)
            elif source is not None and "vmaf" in stages:
                out_720p = speed.rendition_720p(source, tmp, progress=stage("the 720p rendition VMAF scores"))
            if source is not None and "ladder" in stages:
                progress = stage("2. three-rung ladder")
                res.speed.append(
                    speed.compare_ladder(source, tmp, repeats=args.repeats, warmup=warm, progress=progress, step=step)
                )
            if source is not None and out_720p is not None and "vmaf" in stages:
                progress = stage("3. VMAF")
                res.speed.append(
                    speed.compare_vmaf(
                        source, out_720p, tmp, repeats=args.repeats, warmup=warm, progress=progress, step=step
                    )
                )
            if "overhead" in stages:
                stage("4. platform overhead")
                clip = clips.PLATFORM
                res.overhead = overhead.measure_overhead(
                    clips.make(clip), clip.width, clip.height, jobs=args.jobs, step=step, log=console.log
                )
            for clip in complexity if "compression" in stages else []:
                progress = stage(f"5. per-title ladder: {clip.name}")
                res.clips.append(compression.run_clip(clip, tmp, subsample=args.subsample, progress=progress))
                step()
            res.load_samples.append(f"end {_load()}")
        res.seconds = time.monotonic() - started
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.print_rich(res, console)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "media-latest.json").write_text(json.dumps(res.to_json(), indent=1, default=str))
    if not args.no_write:
        report.write_section(args.output, res)
        console.print(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")


if __name__ == "__main__":
    main()
