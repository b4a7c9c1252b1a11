"""The few facts of a video's first stream that encoding, scoring and analysis need, from headers.

Lighter than :func:`darkroom.media.probe.probe` (no rotation box, no colour): one container open,
the first packets' timestamps read for the output frame rate, nothing decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path

import av

from darkroom.media.errors import InvalidMedia
from darkroom.media.framerate import FrameRate, read_rate

__all__ = ["Seek", "VideoHeader", "video_header"]


class Seek(StrEnum):
    """How the container reaches a time (``docs/media.md``, *Chunk seeking*).

    ``INDEX``: an index of keyframes (MP4/MOV sample tables, Matroska cues or its cluster scan, AVI
    ``idx1``): ``-ss t`` lands on the keyframe at or before ``t``. ``SEARCH``: a timestamp search
    through the stream (MPEG-PS/TS and everything not known to have an index): it lands near ``t``,
    often on a keyframe after it. ``NONE``: no timestamps to seek by (raw elementary streams).
    """

    INDEX = "index"
    SEARCH = "search"
    NONE = "none"


_MOV = "mov,mp4,m4a,3gp,3g2,mj2"
_NO_TIMESTAMPS = 0x80  # AVFMT_NOTIMESTAMPS: raw elementary streams (PyAV: Flags.no_timestamps)


def _seek(container: av.container.InputContainer, stream: av.VideoStream) -> Seek:
    if container.format.flags & _NO_TIMESTAMPS:
        return Seek.NONE
    name = container.format.name
    # Matroska seeks by its cues, or without them by scanning clusters up to the time: both land on
    # the keyframe before it. MP4 and AVI only when their index is there (it is read when opened).
    if name == "matroska,webm" or (name in (_MOV, "avi") and len(stream.index_entries) > 0):
        return Seek.INDEX
    return Seek.SEARCH


@dataclass(frozen=True)
class VideoHeader:
    width: int
    height: int
    fps: float  # 0.0 when the container states none
    duration_s: float  # 0.0 when unknown
    ten_bit: bool  # 10- or 12-bit pixel format
    has_audio: bool
    rate: FrameRate  # the constant rate renditions run at (darkroom.media.framerate)
    video_duration_s: float  # the video stream's own length (0.0 when unknown)
    seek: Seek = Seek.SEARCH  # how a time is reached: SEARCH is the safe assumption

    @property
    def output_fps(self) -> Fraction:
        return self.rate.fps


def video_header(path: Path, *, require_fps: bool = True) -> VideoHeader:
    """Raise ``InvalidMedia`` (``unreadable``, ``no_video``, or ``bad_fps`` when ``require_fps``)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InvalidMedia(f"{path.name} has no video stream", code="no_video")
            s = container.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            if container.duration:
                duration = container.duration / 1e6
            elif s.duration and s.time_base:
                duration = float(s.duration * s.time_base)
            else:
                duration = 0.0
            depth = s.format.name if s.format is not None else ""
            video_s = float(s.duration * s.time_base) if s.duration and s.time_base else duration
            header = VideoHeader(
                s.width,
                s.height,
                float(rate) if rate else 0.0,
                duration,
                "10" in depth or "12" in depth,
                bool(container.streams.audio),
                read_rate(container, s),
                video_s,
                _seek(container, s),
            )
    except (av.FFmpegError, OSError) as exc:
        raise InvalidMedia(f"{path.name} cannot be read: {exc}", code="unreadable") from exc
    if require_fps and not (header.fps > 0 and header.output_fps > 0):
        raise InvalidMedia(f"{path.name} has no usable frame rate", code="bad_fps")
    return header
