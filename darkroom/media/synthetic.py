"""Synthetic media: clips generated from ffmpeg's own sources (lavfi), for demos and tests."""

from __future__ import annotations

from pathlib import Path

from darkroom.media.ffmpeg import run

__all__ = ["make_clip"]


def make_clip(
    out: Path,
    *,
    duration_s: float = 4.0,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    timeout_s: float = 120.0,
) -> Path:
    """Write ``out``, an H.264 + stereo AAC MP4: a moving test pattern, then a hard cut to a zooming
    fractal at half time (so scene detection has a cut to find), with a 440 Hz tone."""
    half = duration_s / 2
    size = f"{width}x{height}"
    graph = (
        f"testsrc2=size={size}:rate={fps}:duration={half:g}[a];"
        f"mandelbrot=size={size}:rate={fps},trim=duration={half:g},setpts=PTS-STARTPTS,format=yuv420p[b];"
        "[a][b]concat=n=2:v=1:a=0[v]"
    )
    args = ["-filter_complex", graph]
    args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration_s:g}"]
    args += ["-map", "[v]", "-map", "0:a", "-ac", "2", "-c:a", "aac", "-b:a", "96k"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", str(fps), "-pix_fmt", "yuv420p"]
    args += ["-movflags", "+faststart", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    run(args, timeout_s=timeout_s, what=f"making the sample clip {out.name}")
    return out
