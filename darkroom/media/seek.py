"""Reaching frame ``n`` of a source's output-rate grid: where to seek, and how many grid frames
decoded after the seek point come before ``n``.

Encode and quality both decode ranges this way, so a chunk and its reference hold the same frames.
A container with an index (:attr:`~darkroom.media.header.Seek.INDEX`) is seeked straight to ``n``:
it lands on the keyframe at or before it. Any other is seeked to a grid point a few seconds
earlier, and ffmpeg's own landing there (the first frame it decodes) is checked to come no later
than ``n``; if it does not, the seek point moves further back (to the start at worst). The frames
from the seek point to ``n`` are then cut on decoded timestamps (``trim=start_frame``), which are
exact whatever the demuxer's landing. Details: ``docs/media.md``, *Chunk seeking*.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from darkroom.media.errors import InvalidMedia, MediaTimeout
from darkroom.media.ffmpeg import run
from darkroom.media.header import Seek, VideoHeader

__all__ = ["LEAD_S", "Entry", "entry"]

LEAD_S = 3.0  # the first step back: longer than the GOPs of most broadcast and camera streams
_GROWTH = 4  # each further step back is this many times longer
_PTS = re.compile(r"pts_time:\s*(-?[0-9.]+)")


@dataclass(frozen=True)
class Entry:
    """How a range from grid frame ``first_frame`` is decoded: the input is seeked to ``seek_s``
    (``None``: decoded from the start), keeping the frames decoded before it
    (``-noaccurate_seek``), and the first ``skip_frames`` grid frames after it are cut."""

    first_frame: int
    seek_s: float | None
    skip_frames: int

    def input_args(self) -> list[str]:
        return [] if self.seek_s is None else ["-noaccurate_seek", "-ss", f"{self.seek_s:.6f}"]

    def video_cut(self) -> str:
        """The filter after ``fps=R:start_time=0`` that drops the grid frames before the range."""
        return f"trim=start_frame={self.skip_frames}"

    def audio_cut(self, fps: float) -> str:
        return f"atrim=start={self.skip_frames / fps:.6f}"


def entry(
    path: Path, header: VideoHeader, first_frame: int, *, timeout_s: float, cancel: threading.Event | None = None
) -> Entry:
    """Where to seek ``path`` for grid frame ``first_frame`` (frames at ``header.output_fps``)."""
    if first_frame < 0:
        raise InvalidMedia(f"first_frame={first_frame!r} must be >= 0", code="bad_range")
    fps = header.output_fps
    if first_frame == 0 or header.seek is Seek.NONE:
        return Entry(first_frame, None, first_frame)
    if header.seek is Seek.INDEX:
        return Entry(first_frame, float(first_frame / fps), 0)
    deadline = time.monotonic() + timeout_s
    lead_s = LEAD_S
    while True:
        skip = min(first_frame, math.ceil(lead_s * fps))
        if skip == first_frame:
            return Entry(first_frame, None, first_frame)
        seek_s = float((first_frame - skip) / fps)
        landed_s = _landing_s(path, seek_s, deadline=deadline, cancel=cancel)
        # The fps filter shows a frame from the grid point its time rounds to: landing at or before
        # the point of frame ``skip`` means every frame the range shows is decoded.
        if landed_s is not None and landed_s * fps < skip + 0.5:
            return Entry(first_frame, seek_s, skip)
        lead_s *= _GROWTH


def _landing_s(path: Path, seek_s: float, *, deadline: float, cancel: threading.Event | None) -> float | None:
    """Time of the first frame ffmpeg decodes after seeking to ``seek_s``, relative to it (None:
    none decoded). The same input options as the encode, so the same demuxer seek."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise MediaTimeout(f"finding a seek point in {path.name} ran past its timeout")
    result = run(
        ["-noaccurate_seek", "-ss", f"{seek_s:.6f}", "-i", str(path), "-map", "0:v:0", "-frames:v", "1",
         "-vf", "showinfo", "-f", "null", "-"],
        timeout_s=remaining, cancel=cancel, loglevel="info", what=f"seeking {path.name} to {seek_s:.3f}s",
    )  # fmt: skip
    found = _PTS.search(result.stderr)
    return float(found.group(1)) if found else None
