"""Complexity analysis: scene cuts and per-scene encoding difficulty of a source.

:func:`scene_cuts` finds cuts with ffmpeg's ``scdet`` on a downscaled decode. :func:`analyse` does
the cuts and a fast fixed-CRF pre-encode at low resolution in ONE ffmpeg run (decode once, encode
once), then sums the encoded packet sizes between cuts: the bits a scene needs at a fixed quality
is what per-title ladders and chunk planning want to know. The result is JSON-serialisable and is
meant to be stored under :func:`cache_key` (the source's content hash) and reused.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av

from darkroom.media.errors import InvalidMedia
from darkroom.media.ffmpeg import run
from darkroom.media.header import video_header
from darkroom.media.progress import Progress

__all__ = ["Complexity", "Scene", "analyse", "cache_key", "scene_cuts"]

_SCD = re.compile(r"lavfi\.scd\.time:\s*([0-9.]+)")
_SCDET_HEIGHT = 144  # scdet compares frame histograms/SAD: a small picture gives the same cuts, faster


@dataclass(frozen=True)
class Scene:
    """One scene: ``[start_s, end_s)``, bits per pixel per frame and bitrate of the pre-encode."""

    start_s: float
    end_s: float
    bits_per_pixel: float
    bitrate_kbps: float


@dataclass(frozen=True)
class Complexity:
    """Per-scene complexity of a source; ``mean_bpp`` is over all frames of the pre-encode."""

    scenes: list[Scene]
    duration_s: float
    fps: float
    mean_bpp: float

    @property
    def cuts(self) -> list[float]:
        """Scene start times after the first (what :func:`~darkroom.media.chunks.plan_chunks` takes)."""
        return [s.start_s for s in self.scenes[1:]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> Path:
        """Write the analysis as JSON (a long title's scenes outgrow a task result: they travel as a file)."""
        path.write_text(json.dumps(self.to_dict(), sort_keys=True))
        return path

    @classmethod
    def load(cls, value: Path | Mapping[str, Any]) -> Complexity:
        """An analysis from its JSON file (:meth:`save`) or its dict."""
        if isinstance(value, Path):
            try:
                value = json.loads(value.read_text())
            except (OSError, ValueError) as exc:
                raise InvalidMedia(f"unreadable complexity analysis {value}: {exc}") from exc
        try:
            return cls.from_dict(value)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidMedia(f"not a complexity analysis: {exc}") from exc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Complexity:
        return cls(
            scenes=[Scene(**s) for s in data["scenes"]],
            duration_s=float(data["duration_s"]),
            fps=float(data["fps"]),
            mean_bpp=float(data["mean_bpp"]),
        )


def cache_key(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes, read in chunks (sources can be many GB): same content, same key."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _scdet_filter(threshold: float, height: int) -> str:
    # -2 keeps the aspect with an even width; never upscale; area scaling is cheap and averages noise.
    return f"scale=-2:'min({height},trunc(ih/2)*2)':flags=area,scdet=threshold={threshold:g}"


def _parse_cuts(log: str, fps: float) -> list[float]:
    """Cut times from scdet's log lines, snapped to the frame grid (timestamps may be rounded)."""
    cuts = {round(round(float(m.group(1)) * fps) / fps, 6) for m in _SCD.finditer(log)}
    return sorted(c for c in cuts if c > 0)


def scene_cuts(
    path: Path,
    *,
    threshold: float = 10.0,
    timeout_s: float,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[float]:
    """Start times (seconds) of every scene after the first, found by ``scdet`` at ``threshold``;
    a set ``cancel`` stops ffmpeg (:class:`FfmpegFailed`)."""
    path = Path(path)
    header = video_header(path)
    fps, duration = header.fps, header.duration_s
    args = ["-i", str(path), "-map", "0:v:0", "-an", "-sn", "-vf", _scdet_filter(threshold, _SCDET_HEIGHT)]
    result = run(
        [*args, "-f", "null", "-"], timeout_s=timeout_s, duration_s=duration or None, progress=progress,
        cancel=cancel, loglevel="info", what=f"scene detection on {path.name}",
    )  # fmt: skip
    return _parse_cuts(result.stderr, fps)


def analyse(
    path: Path,
    *,
    crf: int = 30,
    height: int = 144,
    threshold: float = 10.0,
    timeout_s: float,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Complexity:
    """Scene cuts + per-scene bits of a fixed-CRF x264 pre-encode at ``height``, from one ffmpeg run;
    a set ``cancel`` stops it (:class:`FfmpegFailed`)."""
    path = Path(path)
    header = video_header(path)
    fps, duration = header.fps, header.duration_s
    with tempfile.TemporaryDirectory(prefix="darkroom-cx-") as tmp:
        pre = Path(tmp) / "pre.mkv"  # mkv: no faststart rewrite, timestamps kept as given
        args = ["-i", str(path), "-map", "0:v:0", "-an", "-sn", "-vf", _scdet_filter(threshold, height)]
        # veryfast keeps the rate/complexity ranking of slower presets at a fraction of the cost;
        # x264 scene-cut keyframes stay on, so a cut costs what it costs in a real encode.
        args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", str(pre)]
        result = run(
            args, timeout_s=timeout_s, duration_s=duration or None, progress=progress, cancel=cancel,
            loglevel="info", what=f"complexity pre-encode of {path.name}",
        )  # fmt: skip
        cuts = _parse_cuts(result.stderr, fps)
        times, sizes, width, pic_height = _packets(pre)
    if not times:
        raise InvalidMedia(f"{path.name} produced no video frames", code="no_frames")
    end = max(duration, times[-1] + 1 / fps)
    bounds = [0.0, *[c for c in cuts if c < end], end]
    bits = [0] * (len(bounds) - 1)
    frames = [0] * (len(bounds) - 1)
    half = 0.5 / fps  # a frame belongs to the scene its timestamp falls in, with half a frame of slack
    for t, size in zip(times, sizes, strict=True):
        i = min(max(bisect.bisect_right(bounds, t + half) - 1, 0), len(bits) - 1)
        bits[i] += size * 8
        frames[i] += 1
    pixels = width * pic_height
    scenes = []
    for i in range(len(bits)):
        length = bounds[i + 1] - bounds[i]
        bpp = bits[i] / (pixels * frames[i]) if frames[i] else 0.0
        scenes.append(Scene(bounds[i], bounds[i + 1], bpp, bits[i] / length / 1000 if length > 0 else 0.0))
    mean = sum(bits) / (pixels * len(times))
    return Complexity(scenes=scenes, duration_s=end, fps=fps, mean_bpp=mean)


def _packets(path: Path) -> tuple[list[float], list[int], int, int]:
    """Presentation times and sizes of the video packets (demux only), and the picture size."""
    items: list[tuple[float, int]] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        start = stream.start_time or 0
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None and base is not None:
                items.append((float((packet.pts - start) * base), packet.size))
        width, height = stream.codec_context.width, stream.codec_context.height
    items.sort()  # packets come in decode order; scenes are in presentation order
    return [t for t, _ in items], [s for _, s in items], width, height
