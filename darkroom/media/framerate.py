"""The frame rate renditions run at: one constant rate per title, chosen from the source.

A constant-rate source keeps its own rate. A variable-rate one (phone video: the camera slows
down in low light and leaves gaps when it starts) gets the standard rate nearest to the rate most
of its frames were captured at (the median frame interval), at most 60 fps (below 12 fps: that rate
itself); ffmpeg's ``fps`` filter
then repeats a frame across a gap and drops one where frames come faster. Every encode, chunk,
quality score and validation of the title uses this one rate (``docs/media.md``, "Frame rate").
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av.error
from av.container import InputContainer
from av.video.stream import VideoStream

__all__ = ["MAX_FPS", "STANDARD_FPS", "FrameRate", "choose_rate", "frame_steps", "is_variable", "read_rate"]

# Rates players and encoders expect, NTSC variants included; a variable-rate source gets one of these.
STANDARD_FPS: tuple[Fraction, ...] = (
    Fraction(15), Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
)  # fmt: skip
MAX_FPS = Fraction(60)  # slow-motion captures (120, 240 fps) are delivered at 60
_MIN_STANDARD = 12.0  # below this a variable-rate source keeps its median rate
_SAMPLE_PACKETS = 120  # packets whose timestamps are compared


@dataclass(frozen=True)
class FrameRate:
    """The output rate of a title and why: ``fps`` is exact (``30000/1001``), ``source_fps`` the
    source's average, ``variable`` whether the source is VFR."""

    fps: Fraction
    source_fps: float
    variable: bool
    reason: str

    def frames(self, duration_s: float) -> int:
        """Frames of ``duration_s`` seconds at the output rate (at least one)."""
        return max(1, round(duration_s * self.fps))

    def to_dict(self) -> dict[str, Any]:
        return {"fps": float(self.fps), "fps_exact": str(self.fps), "source_fps": self.source_fps,
                "variable": self.variable, "reason": self.reason}  # fmt: skip


def frame_steps(container: InputContainer, stream: VideoStream) -> list[int]:
    """Presentation-time steps (in ``stream.time_base`` ticks) between the first packets."""
    pts: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) >= _SAMPLE_PACKETS:
                break
    except av.error.FFmpegError:
        pass  # a damaged stream: judge by what was read
    pts.sort()
    if len(pts) > 32:
        pts = pts[:-16]  # frames reordered past the cut (B-frames) would look like a gap
    return [b - a for a, b in itertools.pairwise(pts) if b > a]


def is_variable(avg: float, base: float, steps: list[int]) -> bool:
    """VFR when the average and real base rates disagree by more than 5 %, or the steps do."""
    if avg and base and abs(avg - base) / base > 0.05:
        return True
    if len(steps) < 4:
        return False
    median = sorted(steps)[len(steps) // 2]
    # 2 ticks absorb rounding (29.97 fps in 1/1000 alternates 33 and 34 ms); a lone gap (one lost
    # frame) is damage rather than a variable rate, so a few percent of the steps must deviate.
    deviating = sum(abs(step - median) > max(2, median // 10) for step in steps)
    return deviating >= max(2, len(steps) // 20)


def _nearest_standard(fps: float) -> Fraction:
    return min(STANDARD_FPS, key=lambda s: (abs(math.log(float(s) / fps)), -s))


def choose_rate(avg: Fraction | None, base: Fraction | None, steps: list[int], time_base: Fraction | None) -> FrameRate:
    """The output rate for a stream with these rates and first-packet steps (see the module doc)."""
    avg_f, base_f = float(avg or 0), float(base or 0)
    variable = is_variable(avg_f, base_f, steps)
    source = avg_f or base_f
    if not variable:
        own = avg or base or Fraction(0)
        return FrameRate(Fraction(own).limit_denominator(1_001_000), source, False,
                         f"constant frame rate: kept at {float(own):.3f} fps")  # fmt: skip
    median_s = float(sorted(steps)[len(steps) // 2] * time_base) if steps and time_base else 0.0
    captured = 1 / median_s if median_s > 0 else source
    if not captured > 0:
        return FrameRate(Fraction(0), source, True, "variable frame rate with no usable timestamps")
    if captured < _MIN_STANDARD:  # a slide show or time lapse: no standard rate is near
        fps = Fraction(captured).limit_denominator(1001)
    else:
        fps = _nearest_standard(min(captured, float(MAX_FPS)))
    reason = (
        f"variable frame rate (average {source:.3f} fps, most frames {captured:.3f} fps apart): encoded at a "
        f"constant {float(fps):.3f} fps, frames repeated across gaps and dropped where they come faster"
    )
    return FrameRate(fps, source, True, reason)


def read_rate(container: InputContainer, stream: VideoStream) -> FrameRate:
    """:func:`choose_rate` for an open PyAV video ``stream`` (demuxes its first packets)."""
    steps = frame_steps(container, stream)
    return choose_rate(stream.average_rate or stream.guessed_rate, stream.base_rate, steps, stream.time_base)
