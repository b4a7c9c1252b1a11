"""RFC 6381 codec strings (the ``CODECS`` of HLS and DASH) read from a stream's own headers."""

from __future__ import annotations

from pathlib import Path

import av
from av.video.codeccontext import VideoCodecContext
from av.video.stream import VideoStream

from darkroom.media.errors import InvalidMedia, UnsupportedMedia

__all__ = ["codec_string"]


def codec_string(path: Path, *, audio: bool = False) -> str:
    """RFC 6381 ``CODECS`` value of the first video (or audio) stream, from its headers."""
    try:
        with av.open(str(path)) as container:
            if audio:
                sound = container.streams.audio
                if not sound:
                    raise InvalidMedia(f"{path.name} has no audio stream", code="no_audio")
                return _audio_codec(sound[0].codec_context.name, sound[0].profile)
            videos = container.streams.video
            if not videos:
                raise InvalidMedia(f"{path.name} has no video stream", code="no_video")
            stream = videos[0]
            cc = stream.codec_context
            return _video_codec(cc.name, bytes(cc.extradata or b""), stream, cc)
    except av.FFmpegError as exc:
        raise InvalidMedia(f"{path.name} cannot be read: {exc}", code="unreadable") from exc


def _audio_codec(name: str, profile: str | None) -> str:
    if name == "aac":
        # audio object type: 2 = AAC-LC, 5 = HE-AAC (SBR), 29 = HE-AACv2 (PS)
        return {"HE-AAC": "mp4a.40.5", "HE-AACv2": "mp4a.40.29"}.get(profile or "", "mp4a.40.2")
    if name == "opus":
        return "opus"
    if name in ("mp3", "mp3float"):
        return "mp4a.40.34"
    raise UnsupportedMedia(f"audio codec {name!r} has no codec string for HLS/DASH")


def _video_codec(name: str, extra: bytes, stream: VideoStream, cc: VideoCodecContext) -> str:
    if name == "h264":
        sps = _avc_sps(extra)
        return f"avc1.{sps[0]:02x}{sps[1]:02x}{sps[2]:02x}"
    if name == "hevc" and len(extra) >= 13 and extra[0] == 1:
        return _hvc1(extra)
    if name == "vp9":
        depth = max((c.bits for c in cc.format.components), default=8) if cc.format else 8
        profile = {"Profile 1": 1, "Profile 2": 2, "Profile 3": 3}.get(stream.profile or "", 0)
        return f"vp09.{profile:02d}.{_vp9_level(cc.width, cc.height, stream)}.{depth:02d}"
    if name in ("av1", "libdav1d", "libaom-av1") and len(extra) >= 4 and extra[0] & 0x80:
        profile, level = extra[1] >> 5, extra[1] & 0x1F
        tier = "H" if extra[2] & 0x80 else "M"
        depth = (12 if extra[2] & 0x20 else 10) if extra[2] & 0x40 else 8
        return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"
    raise UnsupportedMedia(f"video codec {name!r} has no codec string for HLS/DASH")


def _avc_sps(extra: bytes) -> bytes:
    """profile_idc, constraint flags, level_idc: from avcC, or from an Annex B SPS NAL."""
    if len(extra) >= 4 and extra[0] == 1:
        return extra[1:4]
    for start in range(len(extra) - 4):
        if extra[start : start + 3] == b"\x00\x00\x01" and extra[start + 3] & 0x1F == 7:
            return extra[start + 4 : start + 7]
    raise InvalidMedia("H.264 stream without an SPS in its headers: no codec string", code="bad_headers")


def _hvc1(extra: bytes) -> str:
    """ISO/IEC 14496-15 annex E: space+profile . reversed compatibility flags . tier+level . constraints."""
    space = "" if not extra[1] >> 6 else "ABC"[(extra[1] >> 6) - 1]
    tier = "H" if extra[1] & 0x20 else "L"
    compat = int(f"{int.from_bytes(extra[2:6], 'big'):032b}"[::-1], 2)
    constraints = list(extra[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    tail = "".join(f".{b:X}" for b in constraints)
    return f"hvc1.{space}{extra[1] & 0x1F}.{compat:X}.{tier}{extra[12]}{tail}"


# VP9 levels (Annex A): (level, max luma picture size, max luma sample rate)
_VP9_LEVELS = (
    (10, 36864, 829440), (11, 73728, 2764800), (20, 122880, 4608000), (21, 245760, 9216000),
    (30, 552960, 20736000), (31, 983040, 36864000), (40, 2228224, 83558400), (41, 2228224, 160432128),
    (50, 8912896, 311951360), (51, 8912896, 588251136), (52, 8912896, 1176502272),
    (60, 35651584, 1176502272), (61, 35651584, 2353004544), (62, 35651584, 4706009088),
)  # fmt: skip


def _vp9_level(width: int, height: int, stream: VideoStream) -> str:
    """MP4 keeps no VP9 level that PyAV exposes: take the lowest level that fits size and rate."""
    pixels = width * height
    fps = float(stream.average_rate or 30)
    for level, picture, rate in _VP9_LEVELS:
        if pixels <= picture and pixels * fps <= rate:
            return f"{level:02d}"
    return "62"
