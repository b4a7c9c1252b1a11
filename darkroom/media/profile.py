"""What a title expects of its source: the profile an inspection judges an upload against."""

from __future__ import annotations

from dataclasses import dataclass

from darkroom.media.probe import Kind

__all__ = ["DEFAULT_VIDEO_CODECS", "TitleProfile"]

DEFAULT_VIDEO_CODECS = frozenset(
    {"h264", "hevc", "vp8", "vp9", "av1", "vvc", "mpeg2video", "mpeg4", "prores", "dnxhd", "ffv1", "mjpeg"}
)


@dataclass(frozen=True)
class TitleProfile:
    """What a title expects of its source. ``None`` disables a check."""

    kind: Kind = "video"
    audio_layout: str | None = "stereo"  # ffmpeg layout name: mono, stereo, 5.1…
    require_audio: bool = False
    min_height: int = 240  # of the short side, so portrait phone video is judged like landscape
    min_duration_s: float | None = 0.5
    max_duration_s: float | None = 4 * 3600.0
    allow_hdr: bool = False  # the encoders produce SDR renditions
    allow_vfr: bool = True  # VFR is converted to a constant rate; False makes it an error
    deinterlace: bool = False  # True: interlaced sources are deinterlaced (a warning, not an error)
    video_codecs: frozenset[str] = DEFAULT_VIDEO_CODECS
    max_decode_errors: int = 0
    loudness_lufs: tuple[float, float] | None = (-35.0, -10.0)  # a warning outside this range
    max_true_peak_db: float | None = -1.0
    black_min_s: float = 1.0  # shortest black / frozen span worth reporting
    freeze_min_s: float = 2.0
    max_black_fraction: float = 0.9  # black for longer than this share of the duration: an error
