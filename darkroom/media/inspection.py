"""Inspection: is an upload fit for the pipeline? A probe, one decode pass, and a verdict.

:func:`~darkroom.media.analysis.analyze` decodes the file once (:mod:`darkroom.media.analysis`);
:func:`inspect` compares the probe and the analysis
with a :class:`TitleProfile` and returns an :class:`Inspection`: ``accepted``, or ``rejected``
with :class:`Issue` s whose codes are stable and whose messages say what to do. Only errors
reject; warnings are reported. The codes are listed in ``docs/media.md``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from av.audio.layout import AudioLayout

from darkroom.media.analysis import Analysis, IdetCounts, analyze
from darkroom.media.errors import FfmpegFailed, InvalidMedia
from darkroom.media.probe import AudioStreamInfo, MediaInfo, VideoStreamInfo, probe
from darkroom.media.profile import DEFAULT_VIDEO_CODECS, TitleProfile

__all__ = [
    "DEFAULT_VIDEO_CODECS", "Analysis", "IdetCounts", "Inspection", "Issue", "TitleProfile", "analyze", "inspect",
]  # fmt: skip

Severity = Literal["error", "warning"]
Verdict = Literal["accepted", "rejected"]

_SILENCE_LUFS = -70.0  # ebur128's absolute gate: integrated loudness of silence
_FATAL = {"wrong_kind", "no_video", "unsupported_codec", "zero_fps"}  # nothing to decode: skip analysis


@dataclass(frozen=True)
class Issue:
    code: str  # stable, machine-readable
    severity: Severity
    message: str  # what is wrong and what to do about it


@dataclass(frozen=True)
class Inspection:
    info: MediaInfo | None  # None when the file could not even be probed
    analysis: Analysis | None  # None for photos and when a fatal issue made decoding pointless
    verdict: Verdict
    issues: tuple[Issue, ...] = ()

    @property
    def codes(self) -> list[str]:
        return [i.code for i in self.issues]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (fractions become ``"16:9"`` strings)."""
        data: dict[str, Any] = _jsonable(asdict(self))
        return data


def inspect(
    path: str | Path,
    profile: TitleProfile | None = None,
    *,
    timeout_s: float | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Inspection:
    """Probe, analyse (one decode) and judge ``path`` against ``profile``.

    Unreadable input is a rejected inspection whose issue code is the probe error's code;
    :class:`~darkroom.media.errors.MediaTimeout` and cancellation propagate.
    """
    profile = profile or TitleProfile()
    try:
        info = probe(path)
    except InvalidMedia as exc:
        return Inspection(None, None, "rejected", (Issue(exc.code, "error", str(exc)),))
    issues = _check_info(info, profile)
    analysis = None
    if info.kind != "photo" and not _FATAL & {i.code for i in issues if i.severity == "error"}:
        try:
            analysis = analyze(path, info, profile=profile, timeout_s=timeout_s, progress=progress, cancel=cancel)
        except FfmpegFailed as exc:
            if cancel is not None and cancel.is_set():
                raise
            reason = (exc.stderr_tail.strip().splitlines() or ["no output"])[-1]
            issues.append(Issue("undecodable", "error", _MESSAGES["undecodable"].format(reason=reason)))
        else:
            issues += _check_analysis(info, analysis, profile)
    verdict: Verdict = "rejected" if any(i.severity == "error" for i in issues) else "accepted"
    return Inspection(info, analysis, verdict, tuple(issues))


# Every issue code and its message; the code is the stable contract, the message says what to do.
_MESSAGES = {
    "no_video": "{name} has no video stream (audio only): upload the video itself",
    "wrong_kind": "the file is a {kind}{shape}, but the title profile expects a {expected}",
    "unsupported_codec": "{what} uses a codec {why}: re-encode it to {fix}",
    "zero_fps": "video has no usable frame rate (0 fps: its timestamps do not advance): re-export it at a "
    "constant frame rate",
    "resolution_too_low": "video is {width}x{height} but the title profile needs at least {min}p: upload a "
    "higher-resolution master",
    "hdr_not_allowed": "video is HDR ({transfer}, {primaries}) but the title profile is SDR: upload an SDR grade "
    "or use an HDR profile",
    "variable_frame_rate": "video has a variable frame rate (average {avg:.3g} fps, base {base:.3g} fps): {fix}",
    "duration_too_long": "the file lasts {duration:.1f} s, longer than the {limit:g} s the title profile allows: "
    "trim or split it",
    "duration_too_short": "the file lasts {duration:.2f} s, shorter than the {limit:g} s the title profile needs",
    "no_audio": "the file has no audio stream but the title profile requires audio: upload the version with sound",
    "audio_layout": "audio is {layout} but the title profile expects {expected}: upload a {expected} mix or choose "
    "a profile for {layout} audio",
    "undecodable": "ffmpeg could not decode the file ({reason}): re-export it",
    "truncated": "the file is truncated: {decoded:.1f} s of {duration:.1f} s decodable: upload the complete file",
    "decode_errors": "{count} decode errors (corrupt packets or frames; the title profile allows {allowed}): "
    "re-export or re-upload the file",
    "interlaced": "video is interlaced ({order}): {fix}",
    "mostly_black": "the video is black for {black:.1f} s of {duration:.1f} s: check the export (offline media or "
    "a missing video track)",
    "black_segments": "black video at {spans}: check that it is intended",
    "frozen_segments": "frozen video at {spans}: check for a stalled export or a missing clip",
    "silent_audio": "the audio track is silent: check the mix or upload the version with sound",
    "loudness_out_of_range": "audio loudness is {lufs:.1f} LUFS, outside the title profile's {low:g}..{high:g} "
    "LUFS: normalise the mix (e.g. to -23 LUFS)",
    "true_peak_too_high": "audio true peak is {peak:+.1f} dBTP, above {limit:+.1f} dBTP: it may clip after "
    "encoding; apply a true-peak limiter",
}
_VIDEO_FIX, _AUDIO_FIX = "H.264, HEVC, VP9 or AV1", "AAC, Opus or FLAC"


class _Found(list[Issue]):
    def add(self, code: str, error: bool = True, **fields: object) -> None:
        self.append(Issue(code, "error" if error else "warning", _MESSAGES[code].format(**fields)))


def _check_info(info: MediaInfo, p: TitleProfile) -> list[Issue]:
    found = _Found()
    video, audio = info.primary_video, info.primary_audio
    if info.kind != p.kind and not (p.kind == "audio" and audio is not None):
        if p.kind == "video" and info.kind == "audio":
            found.add("no_video", name=info.name)
        else:
            shape = f" ({video.codec} {video.width}x{video.height})" if video else ""
            found.add("wrong_kind", kind=info.kind, shape=shape, expected=p.kind)
        return found
    if p.kind == "video" and video is not None:
        _check_video(video, p, found)
    duration = info.duration_s
    if duration is not None and p.max_duration_s is not None and duration > p.max_duration_s:
        found.add("duration_too_long", duration=duration, limit=p.max_duration_s)
    if duration is not None and p.min_duration_s is not None and duration < p.min_duration_s:
        found.add("duration_too_short", duration=duration, limit=p.min_duration_s)
    if audio is None:
        if p.require_audio or p.kind == "audio":
            found.add("no_audio")
    elif not audio.decodable:
        found.add("unsupported_codec", what=f"audio stream #{audio.index}", why="that cannot be decoded here",
                  fix=_AUDIO_FIX)  # fmt: skip
    elif p.audio_layout and not _same_layout(audio, p.audio_layout):
        found.add("audio_layout", layout=audio.layout, expected=p.audio_layout)
    return found


def _check_video(video: VideoStreamInfo, p: TitleProfile, found: _Found) -> None:
    if not video.decodable:
        found.add("unsupported_codec", what=f"video stream #{video.index}", why="that cannot be decoded here",
                  fix=_VIDEO_FIX)  # fmt: skip
        return
    if video.codec not in p.video_codecs:
        found.add("unsupported_codec", what=f"video stream #{video.index} ({video.codec})",
                  why="the title profile does not accept", fix=_VIDEO_FIX)  # fmt: skip
    if video.frame_rate <= 0:
        found.add("zero_fps")
    width, height = video.display_size
    if min(width, height) < p.min_height:
        found.add("resolution_too_low", width=width, height=height, min=p.min_height)
    if video.hdr and not p.allow_hdr:
        found.add("hdr_not_allowed", transfer=video.color_transfer, primaries=video.color_primaries)
    if video.vfr:
        fix = "it will be converted to a constant rate" if p.allow_vfr else "re-export it at a constant frame rate"
        found.add("variable_frame_rate", not p.allow_vfr, avg=video.avg_frame_rate, base=video.r_frame_rate, fix=fix)


def _same_layout(audio: AudioStreamInfo, expected: str) -> bool:
    if audio.layout.removesuffix("(side)") == expected.removesuffix("(side)"):
        return True  # 5.1 and 5.1(side) are the same mix for delivery
    if audio.layout.endswith(" channels"):  # unlabelled ("2 channels", e.g. PCM in Matroska): by count
        try:
            return AudioLayout(expected).nb_channels == audio.channels
        except ValueError:
            return False
    return False


def _check_analysis(info: MediaInfo, a: Analysis, p: TitleProfile) -> list[Issue]:
    found = _Found()
    duration = info.duration_s
    if duration and a.decoded_s is not None and duration - a.decoded_s > max(0.5, 0.01 * duration):
        found.add("truncated", decoded=a.decoded_s, duration=duration)
    if a.decode_errors:
        allowed = p.max_decode_errors
        found.add("decode_errors", a.decode_errors > allowed, count=a.decode_errors, allowed=allowed)
    if a.interlaced:
        fix = "it will be deinterlaced" if p.deinterlace else "deinterlace before upload or enable deinterlacing"
        found.add("interlaced", not p.deinterlace, order=a.field_order, fix=fix)
    black = sum(end - start for start, end in a.black_segments)
    if duration and black >= p.max_black_fraction * duration:
        found.add("mostly_black", black=black, duration=duration)
    elif a.black_segments:
        found.add("black_segments", False, spans=_spans(a.black_segments))
    if a.frozen_segments:
        found.add("frozen_segments", False, spans=_spans(a.frozen_segments))
    lufs, target = a.loudness_lufs, p.loudness_lufs
    if lufs is not None and lufs <= _SILENCE_LUFS:
        found.add("silent_audio", False)
    elif lufs is not None and target is not None and not target[0] <= lufs <= target[1]:
        found.add("loudness_out_of_range", False, lufs=lufs, low=target[0], high=target[1])
    peak, limit = a.true_peak_db, p.max_true_peak_db
    if peak is not None and limit is not None and peak > limit:
        found.add("true_peak_too_high", False, peak=peak, limit=limit)
    return found


def _spans(spans: tuple[tuple[float, float], ...]) -> str:
    shown = ", ".join(f"{start:.1f}-{end:.1f} s" for start, end in spans[:5])
    return shown + (f" and {len(spans) - 5} more" if len(spans) > 5 else "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Fraction):
        return f"{value.numerator}:{value.denominator}"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return None  # JSON has no infinities (a silent track's true peak)
    return value
