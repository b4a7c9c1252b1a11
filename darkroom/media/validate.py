"""Validation: does an encode match its recipe and its source? Returns the list of discrepancies.

Headers (codec, profile, size, pixel format, audio) come from :func:`probe`; bitrate, frame count
and keyframe placement from one demux pass over the packets (no decode); decodability from an
optional full decode with PyAV. Every check reports with a stable ``code`` (listed in
:data:`CODES` and ``docs/media.md``); an empty list means the encode is valid.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
from av.container import InputContainer
from av.packet import Packet
from av.stream import Stream

from darkroom.media.errors import InvalidMedia, MediaTimeout
from darkroom.media.probe import MediaInfo, VideoStreamInfo, probe
from darkroom.media.recipe import Recipe

__all__ = ["CODES", "Discrepancy", "validate"]

CODES = (
    "unreadable", "no_video", "codec", "profile", "resolution", "pix_fmt", "frame_rate", "bitrate_off_target",
    "bitrate_over_cap", "duration", "frame_count", "keyframe_missing", "keyframe_extra", "not_decodable",
    "no_audio", "audio_codec", "audio_channels", "audio_sample_rate", "av_sync",
)  # fmt: skip
_AUDIO_RATE = 48_000  # what encode_audio/audio_args always produce
# H.264 profiles are ceilings (x264 writes the lowest profile the stream's tools need):
# a stream below the recipe's profile plays wherever the recipe's would.
_H264_ORDER = ("baseline", "main", "high", "high10")


@dataclass(frozen=True)
class Discrepancy:
    """One way the encode differs from what was asked: ``code`` is stable, ``message`` for people."""

    code: str
    field: str
    expected: str
    actual: str
    message: str


@dataclass
class _Packets:
    """What one demux pass learns: video packets in presentation order, sizes, audio extent."""

    key_flags: list[bool] = field(default_factory=list)
    video_bytes: int = 0
    video_start_s: float | None = None
    video_end_s: float | None = None
    audio_start_s: float | None = None
    audio_end_s: float | None = None

    @staticmethod
    def _span(start: float | None, end: float | None) -> float | None:
        return end - start if start is not None and end is not None and end > start else None

    @property
    def video_s(self) -> float | None:
        """How long the video lasts by its packets (Matroska keeps no stream duration)."""
        return self._span(self.video_start_s, self.video_end_s)

    @property
    def audio_s(self) -> float | None:
        return self._span(self.audio_start_s, self.audio_end_s)


def validate(
    encoded: Path,
    recipe: Recipe,
    source_info: MediaInfo,
    *,
    bitrate_tolerance: float = 0.25,
    decode: bool = True,
    timeout_s: float,
) -> list[Discrepancy]:
    """Compare ``encoded`` with ``recipe`` and the source it was made from; [] when it matches."""
    if not 0 <= bitrate_tolerance < 10:
        raise InvalidMedia(f"bitrate_tolerance={bitrate_tolerance!r} must be a fraction in [0, 10)", code="bad_request")
    deadline = time.monotonic() + timeout_s
    encoded = Path(encoded)
    try:
        info = probe(encoded)
    except InvalidMedia as exc:
        return [Discrepancy("unreadable", "file", "readable media", exc.code, str(exc))]
    video = info.primary_video
    if video is None:
        return [Discrepancy("no_video", "video", recipe.codec, "none", f"{encoded.name} has no video stream")]
    found = _headers(encoded.name, recipe, video)
    src = source_info.primary_video
    # The rate every rendition of the title runs at (a VFR source's is chosen, see framerate.py).
    fps = (src.output_fps if src else 0.0) or video.frame_rate
    try:
        packets = _demux(encoded, deadline)
    except av.FFmpegError as exc:
        return [*found, Discrepancy("unreadable", "file", "demuxable", "error", f"{encoded.name}: {exc}")]
    frames = len(packets.key_flags)
    video_s = video.duration_s or packets.video_s  # Matroska keeps no stream duration: the packets tell
    duration_s = video_s or (frames / fps if fps else 0.0)
    found += _bitrate(
        encoded.name, recipe, packets.video_bytes * 8 / duration_s if duration_s else 0.0, bitrate_tolerance
    )
    if fps:
        found += _keyframes(encoded.name, packets.key_flags, recipe.keyint(fps))
    found += _timing(encoded.name, src, source_info, video=video, actual_s=duration_s, frames=frames, fps=fps)
    if decode:
        found += _decode(encoded, frames, deadline)
    found += _audio(encoded.name, recipe, source_info, info=info, packets=packets, video_s=video_s, fps=fps)
    return found


def _headers(name: str, recipe: Recipe, video: VideoStreamInfo) -> list[Discrepancy]:
    found = []
    codec = {"libdav1d": "av1", "libaom-av1": "av1", "libvpx-vp9": "vp9"}.get(video.codec, video.codec)
    if codec != recipe.codec:
        found.append(
            Discrepancy("codec", "codec", recipe.codec, codec, f"{name} is {codec}, the recipe asks {recipe.codec}")
        )
    profile = _profile(video.profile)
    wanted = recipe.profile or ""
    ok = profile == wanted
    if codec == "h264" and profile in _H264_ORDER and wanted in _H264_ORDER:
        ok = _H264_ORDER.index(profile) <= _H264_ORDER.index(wanted)
    if codec == recipe.codec and not ok:
        found.append(Discrepancy("profile", "profile", wanted, profile, f"{name} has profile {profile}, not {wanted}"))
    size, want_size = f"{video.width}x{video.height}", f"{recipe.width}x{recipe.height}"
    if size != want_size:
        found.append(Discrepancy("resolution", "resolution", want_size, size, f"{name} is {size}, not {want_size}"))
    if video.pix_fmt != recipe.pix_fmt:
        found.append(Discrepancy(
            "pix_fmt", "pix_fmt", recipe.pix_fmt, str(video.pix_fmt),
            f"{name} is {video.pix_fmt} ({video.bit_depth}-bit), the recipe asks {recipe.pix_fmt}",
        ))  # fmt: skip
    return found


def _profile(name: str | None) -> str:
    """ffmpeg's profile names ("High 10", "Constrained Baseline", "Profile 0") in recipe terms."""
    key = (name or "unknown").lower().replace(" ", "")
    return {"constrainedbaseline": "baseline", "profile0": "0", "profile1": "1", "profile2": "2"}.get(key, key)


def _demux(path: Path, deadline: float) -> _Packets:
    out = _Packets()
    video_pts: list[tuple[int, bool]] = []
    with av.open(str(path), "r") as container:
        vstream = container.streams.video[0]
        astream = container.streams.audio[0] if container.streams.audio else None
        rate = vstream.average_rate or vstream.guessed_rate
        frame_s = 1 / float(rate) if rate else 0.0  # for packets that carry no duration (Matroska)
        for packet in _packets(container, [s for s in (vstream, astream) if s is not None]):
            if time.monotonic() > deadline:
                raise MediaTimeout(f"validating {path.name} ran past its timeout")
            if packet.pts is None or not packet.size or packet.time_base is None:
                continue
            start = float(packet.pts * packet.time_base)
            length = float(packet.duration * packet.time_base) if packet.duration else 0.0
            if packet.stream is vstream:
                video_pts.append((packet.pts, packet.is_keyframe))
                out.video_bytes += packet.size
                out.video_start_s = start if out.video_start_s is None else min(out.video_start_s, start)
                end = start + (length or frame_s)
                out.video_end_s = end if out.video_end_s is None else max(out.video_end_s, end)
            else:
                if out.audio_start_s is None or start < out.audio_start_s:
                    # encoder priming sits before 0 and the edit list hides it from players
                    out.audio_start_s = max(0.0, start)
                end = start + length
                out.audio_end_s = end if out.audio_end_s is None else max(out.audio_end_s, end)
    # B-frames arrive in decode order; keyframe positions are counted in presentation order.
    out.key_flags = [key for _, key in sorted(video_pts)]
    return out


def _packets(container: InputContainer, streams: list[Stream]) -> Iterator[Packet[Stream]]:
    """Packets until the end or the first demux error: a truncated file yields what it has."""
    demuxer = container.demux(*streams)
    while True:
        try:
            yield next(demuxer)
        except (StopIteration, av.FFmpegError):
            return


def _bitrate(name: str, recipe: Recipe, bits_s: float, tolerance: float) -> list[Discrepancy]:
    kbps = bits_s / 1000
    if recipe.bitrate_kbps is not None:
        target = recipe.bitrate_kbps
        if abs(kbps - target) > tolerance * target:
            return [Discrepancy(
                "bitrate_off_target", "bitrate_kbps", f"{target}±{tolerance:.0%}", f"{kbps:.0f}",
                f"{name} video averages {kbps:.0f} kb/s, target {target} kb/s ± {tolerance:.0%}",
            )]  # fmt: skip
    # CRF: quality decides the rate; only the VBV cap (averaged over the file) can be broken.
    cap = recipe.maxrate_kbps
    if cap is not None and kbps > cap * (1 + tolerance):
        return [Discrepancy(
            "bitrate_over_cap", "maxrate_kbps", f"<={cap}", f"{kbps:.0f}",
            f"{name} video averages {kbps:.0f} kb/s, over the {cap} kb/s cap (+{tolerance:.0%})",
        )]  # fmt: skip
    return []


def _keyframes(name: str, flags: list[bool], keyint: int) -> list[Discrepancy]:
    missing = [i for i in range(0, len(flags), keyint) if not flags[i]]
    extra = [i for i, key in enumerate(flags) if key and i % keyint]
    found = []
    if missing:
        found.append(Discrepancy(
            "keyframe_missing", "gop_s", f"keyframe every {keyint} frames", f"none at frames {missing[:5]}",
            f"{name} lacks keyframes at frames {missing[:5]} (keyint {keyint}): segments would not start on one",
        ))  # fmt: skip
    if extra:
        found.append(Discrepancy(
            "keyframe_extra", "gop_s", f"keyframes only every {keyint} frames", f"also at frames {extra[:5]}",
            f"{name} has keyframes off the {keyint}-frame grid at {extra[:5]}: GOPs are not aligned",
        ))  # fmt: skip
    return found


def _timing(
    name: str,
    src: VideoStreamInfo | None,
    source_info: MediaInfo,
    *,
    video: VideoStreamInfo,
    actual_s: float,
    frames: int,
    fps: float,
) -> list[Discrepancy]:
    found = []
    if src is not None and fps and video.frame_rate and abs(video.frame_rate - fps) > 0.01:
        source = f" (a variable rate averaging {src.frame_rate:.3f})" if src.vfr else ""
        found.append(Discrepancy(
            "frame_rate", "frame_rate", f"{fps:.3f}", f"{video.frame_rate:.3f}",
            f"{name} runs at {video.frame_rate:.3f} fps, not the title's output rate of {fps:.3f} fps"
            f"{source}",
        ))  # fmt: skip
    source_s = (src.duration_s if src else None) or source_info.duration_s
    counted = src.frame_count if src is not None and not src.vfr else None  # VFR frames are not output frames
    expected_frames = counted or (round(source_s * fps) if source_s and fps else None)
    if expected_frames is not None and abs(frames - expected_frames) > 1:
        found.append(Discrepancy(
            "frame_count", "frames", str(expected_frames), str(frames),
            f"{name} has {frames} frames, the source {expected_frames} (±1 allowed)",
        ))  # fmt: skip
    if source_s and actual_s and fps and abs(actual_s - source_s) > 1 / fps + 1e-3:
        found.append(Discrepancy(
            "duration", "duration_s", f"{source_s:.3f}", f"{actual_s:.3f}",
            f"{name} lasts {actual_s:.3f}s, the source {source_s:.3f}s (± one frame)",
        ))  # fmt: skip
    return found


def _decode(path: Path, expected: int, deadline: float) -> list[Discrepancy]:
    """Decode every frame; demuxer and decoder errors are counted and decoding goes on."""
    frames = errors = 0
    try:
        with av.open(str(path), "r") as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for packet in container.demux(stream):
                if time.monotonic() > deadline:
                    raise MediaTimeout(f"decoding {path.name} ran past its timeout")
                try:
                    frames += len(packet.decode())
                except av.FFmpegError:
                    errors += 1
    except av.FFmpegError:
        errors += 1
    if errors or frames < expected:
        return [Discrepancy(
            "not_decodable", "frames", f"{expected} decoded, 0 errors", f"{frames} decoded, {errors} errors",
            f"{path.name} decodes {frames} of {expected} frames with {errors} errors (truncated or corrupt)",
        )]  # fmt: skip
    return []


def _audio(
    name: str, recipe: Recipe, source_info: MediaInfo, *, info: MediaInfo, packets: _Packets, video_s: float | None,
    fps: float,
) -> list[Discrepancy]:  # fmt: skip
    want = recipe.audio
    audio = info.primary_audio
    if want is None or source_info.primary_audio is None:
        return []  # a source without audio gives renditions without audio (encode's rule)
    if audio is None:
        return [
            Discrepancy("no_audio", "audio", want.codec, "none", f"{name} has no audio, the recipe asks {want.codec}")
        ]
    found = []
    codec = "opus" if audio.codec == "libopus" else audio.codec
    checks = (
        ("audio_codec", "audio.codec", want.codec, codec),
        ("audio_channels", "audio.channels", str(want.channels), str(audio.channels)),
        ("audio_sample_rate", "audio.sample_rate", str(_AUDIO_RATE), str(audio.sample_rate)),
    )
    for code, fld, expected, actual in checks:
        if expected != actual:
            found.append(Discrepancy(code, fld, expected, actual, f"{name} audio {fld} is {actual}, not {expected}"))
    frame_s = 1 / fps if fps else 0.04
    v0, a0 = packets.video_start_s or 0.0, packets.audio_start_s or 0.0
    if abs(v0 - a0) > frame_s + 1e-3:
        found.append(Discrepancy(
            "av_sync", "start_s", f"{v0:.3f}", f"{a0:.3f}",
            f"{name} audio starts at {a0:.3f}s, video at {v0:.3f}s: more than one frame apart",
        ))  # fmt: skip
    vd, ad = video_s, audio.duration_s or packets.audio_s
    if vd and ad and abs(vd - ad) > frame_s + 1e-3:
        found.append(Discrepancy(
            "av_sync", "duration_s", f"{vd:.3f}", f"{ad:.3f}",
            f"{name} audio lasts {ad:.3f}s, video {vd:.3f}s: more than one frame apart",
        ))  # fmt: skip
    return found
