"""Probing: what a media file contains, read from its headers with PyAV (no decoding).

:func:`probe` returns a :class:`MediaInfo`; :func:`detect_kind` says whether a file is a video, a
photo or audio, by content (never by extension). Photos are recognised with Pillow first, which
only reads the header, so absurd declared dimensions are refused before anything is decoded.
Every failure is a typed :class:`~darkroom.media.errors.InvalidMedia` naming the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream
from PIL import Image

from darkroom.media.errors import InvalidMedia, UnsupportedMedia
from darkroom.media.framerate import read_rate
from darkroom.media.mediatype import media_type
from darkroom.media.mp4box import mp4_rotation

__all__ = [
    "MAX_PIXELS", "AudioStreamInfo", "Detected", "Kind", "MediaInfo", "VideoStreamInfo",
    "detect", "detect_kind", "probe",
]  # fmt: skip

Kind = Literal["video", "photo", "audio"]

MAX_PIXELS = 200_000_000  # 16384x12207; a 200 MP phone photo fits, a decompression bomb does not
_PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "MPO", "AVIF", "HEIF")
_HEIF_BRANDS = {"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"}
_IMAGE_CODECS = {"mjpeg", "png", "apng", "webp", "gif", "bmp", "tiff", "jpeg2000", "jpegls", "jpegxl", "qoi"}
# AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace / AVColorRange values, named as
# ffmpeg names them (what encoders take back in -color_primaries etc.).
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
              10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}  # fmt: skip
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
              9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
              14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}  # fmt: skip
_MATRICES = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
             9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc", 13: "chroma-derived-c",
             14: "ictcp"}  # fmt: skip
_RANGES = {1: "tv", 2: "pc"}
_FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
_HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}  # PQ and HLG


@dataclass(frozen=True)
class VideoStreamInfo:
    index: int
    codec: str  # ffmpeg's codec name; "unknown" when no decoder exists here
    decodable: bool
    width: int
    height: int
    profile: str | None = None
    sample_aspect: Fraction | None = None  # SAR; None when unknown (treat as 1:1)
    display_aspect: Fraction | None = None  # DAR
    rotation: int = 0  # degrees counterclockwise, as the display matrix says (ffmpeg's convention)
    avg_frame_rate: float = 0.0
    r_frame_rate: float = 0.0  # ffmpeg's "real base" rate: the lowest rate all timestamps fit
    vfr: bool = False
    pix_fmt: str | None = None
    bit_depth: int | None = None
    color_primaries: str = "unknown"
    color_transfer: str = "unknown"
    color_matrix: str = "unknown"
    color_range: str = "unknown"
    hdr: bool = False
    frame_count: int | None = None
    field_order: str = "unknown"  # progressive | tt | bb | tb | bt | unknown
    bit_rate: int | None = None
    duration_s: float | None = None
    # The constant rate renditions are encoded at (darkroom.media.framerate) and why.
    output_fps: float = 0.0
    output_fps_exact: str = "0"  # as a fraction: "30000/1001"
    output_fps_reason: str = ""

    @property
    def frame_rate(self) -> float:
        """The average rate when known, else the real base rate; 0.0 when there is neither."""
        return self.avg_frame_rate or self.r_frame_rate

    @property
    def output_rate(self) -> Fraction:
        """:attr:`output_fps` exactly."""
        return Fraction(self.output_fps_exact)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: sample aspect applied, swapped for quarter-turn rotations."""
        width = round(self.width * self.sample_aspect) if self.sample_aspect else self.width
        return (self.height, width) if abs(self.rotation) % 180 == 90 else (width, self.height)


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    decodable: bool
    channels: int
    layout: str  # ffmpeg's layout name: mono, stereo, 5.1, 5.1(side)…
    sample_rate: int
    bit_rate: int | None = None
    profile: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class MediaInfo:
    name: str  # the file name (not the path: reports must not leak worker directories)
    kind: Kind
    container: str  # demuxer name (e.g. "mov,mp4,m4a,3gp,3g2,mj2") or Pillow format for photos
    size_bytes: int
    duration_s: float | None = None
    bit_rate: int | None = None
    video: tuple[VideoStreamInfo, ...] = ()  # cover art (attached pictures) is not listed
    audio: tuple[AudioStreamInfo, ...] = ()

    @property
    def primary_video(self) -> VideoStreamInfo | None:
        return self.video[0] if self.video else None

    @property
    def primary_audio(self) -> AudioStreamInfo | None:
        return self.audio[0] if self.audio else None


def probe(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> MediaInfo:
    """Describe ``path``; raise :class:`InvalidMedia` (``code``: empty, not_found, unreadable,
    decompression_bomb, no_streams) or :class:`UnsupportedMedia` when it cannot be read."""
    path = Path(path)
    size = _check_file(path)
    photo = _open_photo(path, max_pixels)
    if photo is not None:
        return photo
    with _open_av(path) as container:
        info = _describe(container, path, size)
    for stream in info.video:
        _check_pixels(path, stream.width, stream.height, max_pixels)
    return info


@dataclass(frozen=True)
class Detected:
    """What a file is, judged by content: its kind and MIME type (None: a container without one)."""

    kind: Kind
    media_type: str | None


def detect(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> Detected:
    """The kind and MIME type of ``path`` judged by content; raises like :func:`probe`."""
    path = Path(path)
    _check_file(path)
    photo = _open_photo(path, max_pixels)
    if photo is not None:
        return Detected("photo", media_type(photo.container))
    with _open_av(path) as container:
        visual = _visual_streams(container)
        brand = str(container.metadata.get("major_brand", ""))
        return Detected(
            _kind(container, visual), media_type(container.format.name, brand=brand, has_video=bool(visual))
        )


def detect_kind(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> Kind:
    """``video``, ``photo`` or ``audio`` judged by content; raises like :func:`probe`."""
    return detect(path, max_pixels=max_pixels).kind


def _check_file(path: Path) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InvalidMedia(f"{path.name}: no such file", code="not_found") from None
    except OSError as exc:
        raise InvalidMedia(f"{path.name}: cannot be read ({exc.strerror})", code="unreadable") from None
    if not path.is_file():
        raise InvalidMedia(f"{path.name}: not a regular file", code="unreadable")
    if size == 0:
        raise InvalidMedia(f"{path.name}: the file is empty (0 bytes)", code="empty")
    return size


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InvalidMedia(
            f"{path.name}: declared size {width}x{height} ({width * height / 1e6:.0f} MP) exceeds the "
            f"{max_pixels / 1e6:.0f} MP limit; refused before decoding (possible decompression bomb)",
            code="decompression_bomb",
        )


def _open_photo(path: Path, max_pixels: int) -> MediaInfo | None:
    """A :class:`MediaInfo` when Pillow recognises a photo format from the header, else None."""
    Image.init()  # load every plugin so the allow-list below sees HEIF/AVIF when registered
    formats = [f for f in _PHOTO_FORMATS if f in Image.OPEN]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(path, formats=formats) as im:
                width, height = im.size
                fmt, mode, frames = im.format or "image", im.mode, getattr(im, "n_frames", 1)
    except Image.DecompressionBombError as exc:
        raise InvalidMedia(
            f"{path.name}: declared image size is absurd ({exc}); refused before decoding", code="decompression_bomb"
        ) from None
    except Exception:  # Pillow fails in many ways on what is not a photo; PyAV gets its turn
        return None
    _check_pixels(path, width, height, max_pixels)
    depth = 16 if "16" in mode else {"1": 1, "I": 32, "F": 32}.get(mode, 8)
    stream = VideoStreamInfo(
        index=0, codec=fmt.lower(), decodable=True, width=width, height=height, pix_fmt=mode, bit_depth=depth,
        frame_count=frames,
    )  # fmt: skip
    return MediaInfo(
        name=path.name, kind="photo", container=fmt.lower(), size_bytes=path.stat().st_size, video=(stream,)
    )


@contextmanager
def _open_av(path: Path) -> Iterator[InputContainer]:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.DecoderNotFoundError, av.error.DemuxerNotFoundError) as exc:
        raise UnsupportedMedia(f"{path.name}: unsupported format ({exc.strerror})", code="unsupported_codec") from None
    except av.error.FFmpegError as exc:
        raise InvalidMedia(
            f"{path.name}: not a media file ffmpeg can read ({exc.strerror})", code="unreadable"
        ) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidMedia(f"{path.name}: cannot be opened ({exc})", code="unreadable") from None
    try:
        if not any(s.type in ("video", "audio") for s in container.streams):
            raise InvalidMedia(f"{path.name}: contains no audio or video stream", code="no_streams")
        yield container
    except av.error.FFmpegError as exc:  # e.g. while reading the first packets
        raise InvalidMedia(f"{path.name}: unreadable ({exc.strerror})", code="unreadable") from None
    finally:
        container.close()


def _visual_streams(container: InputContainer) -> list[VideoStream]:
    # Cover art in audio files is a one-frame "video" stream flagged attached_pic: not video.
    return [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]


def _kind(container: InputContainer, visual: list[VideoStream]) -> Kind:
    if not visual:
        return "audio"
    fmt: str = container.format.name
    brand = str(container.metadata.get("major_brand", "")).strip().lower()
    if fmt.endswith("_pipe") or fmt == "image2" or brand in _HEIF_BRANDS:
        return "photo"
    codecs = {s.codec_context.name if s.codec_context else "" for s in visual}
    if codecs <= _IMAGE_CODECS and all(s.frames == 1 for s in visual):
        return "photo"  # a single image in a container (e.g. one PNG frame in a .mov)
    return "video"


def _describe(container: InputContainer, path: Path, size: int) -> MediaInfo:
    visual = _visual_streams(container)
    kind = _kind(container, visual)
    rotation = mp4_rotation(path) if "mp4" in container.format.name else 0
    video = tuple(_video(s, rotation if i == 0 else 0, container, kind) for i, s in enumerate(visual))
    audio = tuple(_audio(s) for s in container.streams.audio)
    streams = [s.duration_s for s in video if s.duration_s] + [s.duration_s for s in audio if s.duration_s]
    duration = _seconds(container.duration, Fraction(1, av.time_base)) or max(streams, default=None)
    return MediaInfo(
        name=path.name, kind=kind, container=container.format.name, size_bytes=size, duration_s=duration,
        bit_rate=container.bit_rate or None, video=video, audio=audio,
    )  # fmt: skip


def _seconds(ticks: int | None, time_base: Fraction | None) -> float | None:
    return float(ticks * time_base) if ticks and time_base else None


def _video(stream: VideoStream, rotation: int, container: InputContainer, kind: Kind) -> VideoStreamInfo:
    cc = stream.codec_context
    duration = _seconds(stream.duration, stream.time_base)
    if cc is None:  # PyAV has no decoder for it: only container-level facts exist
        return VideoStreamInfo(index=stream.index, codec="unknown", decodable=False, width=0, height=0,
                               frame_count=stream.frames or None, duration_s=duration)  # fmt: skip
    # image demuxers report a nominal 25 fps; a photo has no frame rate
    avg = float(stream.average_rate or 0) if kind != "photo" else 0.0
    base = float(stream.base_rate or 0) if kind != "photo" else 0.0
    rate = read_rate(container, stream) if kind == "video" else None
    fmt = cc.format
    transfer = _TRANSFERS.get(cc.color_trc, "unknown")
    primaries = _PRIMARIES.get(cc.color_primaries, "unknown")
    return VideoStreamInfo(
        index=stream.index, codec=cc.name, decodable=True, width=cc.width, height=cc.height,
        profile=stream.profile, sample_aspect=stream.sample_aspect_ratio or None,
        display_aspect=stream.display_aspect_ratio or None, rotation=rotation, avg_frame_rate=avg,
        r_frame_rate=base, vfr=rate is not None and rate.variable, pix_fmt=cc.pix_fmt,
        bit_depth=max((c.bits for c in fmt.components), default=None) if fmt else None,
        color_primaries=primaries, color_transfer=transfer,
        color_matrix=_MATRICES.get(cc.colorspace, "unknown"), color_range=_RANGES.get(cc.color_range, "unknown"),
        hdr=transfer in _HDR_TRANSFERS or primaries == "bt2020", frame_count=stream.frames or None,
        field_order=_FIELD_ORDERS.get(cc.field_order, "unknown"), bit_rate=stream.bit_rate or None,
        duration_s=duration, output_fps=float(rate.fps) if rate else 0.0,
        output_fps_exact=str(rate.fps) if rate else "0", output_fps_reason=rate.reason if rate else "",
    )  # fmt: skip


def _audio(stream: AudioStream) -> AudioStreamInfo:
    cc = stream.codec_context
    duration = _seconds(stream.duration, stream.time_base)
    if cc is None:
        return AudioStreamInfo(stream.index, "unknown", False, 0, "unknown", 0, duration_s=duration)
    return AudioStreamInfo(
        index=stream.index, codec=cc.name, decodable=True, channels=cc.channels, layout=cc.layout.name,
        sample_rate=cc.sample_rate, bit_rate=stream.bit_rate or cc.bit_rate or None, profile=stream.profile,
        duration_s=duration,
    )  # fmt: skip
