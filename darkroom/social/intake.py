"""Taking an upload in: what it is, decided by its content only, and whether it fits its kind's limit.

The first bytes (magic numbers) name the kind while the file streams in, so the kind's size limit
applies before the rest is read; once the file is whole, the media probe (:func:`darkroom.media.probe.detect`)
must agree. The file's name and its declared content type are never consulted: a clip named
``.jpg`` is a video, a text file named ``.png`` is refused.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from darkroom.config import Settings
from darkroom.media.errors import InvalidMedia
from darkroom.media.probe import detect, probe
from darkroom.services.inspection import video_facts
from darkroom.social.errors import TooLarge, UnsupportedMedia

__all__ = [
    "SNIFF_BYTES",
    "Content",
    "Spooled",
    "UploadKind",
    "UploadLimits",
    "clean_filename",
    "identify",
    "sha256_of",
    "sniff",
    "spool",
    "suffix_for",
]

SNIFF_BYTES = 512  # enough for every signature below (MPEG-TS needs three 188-byte packets' sync bytes)
MAX_FILENAME_CHARS = 255
_CHUNK_BYTES = 1 << 20


class UploadKind(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The largest upload of each kind (``DARKROOM_MAX_PHOTO_BYTES``, ``DARKROOM_MAX_VIDEO_BYTES``),
    and how long an unfinished resumable upload is kept after its last chunk
    (``DARKROOM_RESUMABLE_LIFETIME_S``, :mod:`darkroom.social.expiry`)."""

    max_photo_bytes: int = 50 << 20
    max_video_bytes: int = 2 << 30
    resumable_lifetime_s: float = 86_400.0

    def __post_init__(self) -> None:
        if self.max_photo_bytes < 1 or self.max_video_bytes < 1:
            raise ValueError(f"upload limits must be positive, got {self.max_photo_bytes}, {self.max_video_bytes}")
        if not self.resumable_lifetime_s > 0:
            raise ValueError(f"resumable_lifetime_s must be > 0, not {self.resumable_lifetime_s!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            max_photo_bytes=settings.max_photo_bytes,
            max_video_bytes=settings.max_video_bytes,
            resumable_lifetime_s=settings.resumable_lifetime_s,
        )

    def max_bytes(self, kind: UploadKind) -> int:
        return self.max_photo_bytes if kind is UploadKind.PHOTO else self.max_video_bytes

    @property
    def largest(self) -> int:
        """The most any upload may hold before its kind is known (a resumable upload's declared length)."""
        return max(self.max_photo_bytes, self.max_video_bytes)


# ISO base media (MP4, MOV, 3GP, HEIF, AVIF): the major brand tells a still image from a movie.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
# Old QuickTime files may open with any of these atoms instead of ``ftyp``.
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"}
_PHOTO_PREFIXES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM")
_VIDEO_PREFIXES = (
    b"\x1a\x45\xdf\xa3",  # Matroska / WebM (EBML)
    b"\x00\x00\x01\xba",  # MPEG program stream
    b"\x00\x00\x01\xb3",  # MPEG-1/2 video elementary stream
    b"FLV\x01",
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF (WMV)
    b"OggS",  # Ogg: the probe tells Theora from sound only
)


def sniff(head: bytes) -> UploadKind | None:
    """The kind the first bytes of a file announce, or None for anything else."""
    if head.startswith(_PHOTO_PREFIXES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return UploadKind.PHOTO
    if head[4:8] == b"ftyp":
        return UploadKind.PHOTO if head[8:12] in _HEIF_BRANDS else UploadKind.VIDEO
    if head[4:8] in _QUICKTIME_ATOMS or head.startswith(_VIDEO_PREFIXES):
        return UploadKind.VIDEO
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return UploadKind.VIDEO
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # MPEG transport stream
        return UploadKind.VIDEO
    if len(head) > 388 and head[4] == head[196] == head[388] == 0x47:  # M2TS (AVCHD): 4-byte timestamps
        return UploadKind.VIDEO
    return None


def clean_filename(filename: object) -> str:
    """The name a person's file is shown and referred to by: the last path segment, NFC, without
    control characters, at most 255 characters (``"upload"`` when nothing is left)."""
    text = filename if isinstance(filename, str) else ""
    text = unicodedata.normalize("NFC", text.replace("\\", "/").rsplit("/", 1)[-1])
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    return text[:MAX_FILENAME_CHARS] or "upload"


def _unsupported(filename: str, why: str) -> UnsupportedMedia:
    return UnsupportedMedia(f"{filename!r} is not a photo or a video: {why}", field="file")


@dataclass(frozen=True, slots=True)
class Spooled:
    """A whole upload in a spool file: its kind by magic bytes, size and SHA-256."""

    path: Path
    kind: UploadKind
    size_bytes: int
    sha256: str


def _read_head(stream: BinaryIO, limit: int) -> bytes:
    head = b""
    while len(head) < limit:
        chunk = stream.read(limit - len(head))
        if not chunk:
            break
        head += chunk
    return head


def spool(stream: BinaryIO, dest: Path, *, filename: str, limits: UploadLimits) -> Spooled:
    """Copy ``stream`` into the new file ``dest`` in 1 MiB pieces, deciding the kind from the first
    bytes. Reading stops as soon as the kind's limit is passed (at most limit + 1 bytes are read):
    :class:`TooLarge`. Unknown content: :class:`UnsupportedMedia` naming ``filename``. On any failure
    ``dest`` is removed."""
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with dest.open("xb") as out:
            chunk = _read_head(stream, min(SNIFF_BYTES, limits.largest + 1))
            if not chunk:
                raise _unsupported(filename, "the file is empty")
            kind = sniff(chunk)
            if kind is None:
                raise _unsupported(filename, "its content is not a known image or video format")
            cap = limits.max_bytes(kind)
            while chunk:
                size += len(chunk)
                if size > cap:
                    raise TooLarge(f"{filename!r} is over the {kind} limit of {cap} bytes", max_bytes=cap, field="file")
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(min(_CHUNK_BYTES, cap + 1 - size))
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return Spooled(dest, kind, size, digest.hexdigest())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Content:
    """What the probe found in a whole upload. ``width``/``height`` are the display size (a photo's
    before its EXIF orientation; its workflow reports the upright size); ``duration_s`` for videos."""

    kind: UploadKind
    media_type: str | None
    width: int
    height: int
    duration_s: float | None = None

    def facts(self) -> dict[str, object]:
        """The first ``uploads.info``: what is known before the renditions exist."""
        out: dict[str, object] = {"width": self.width, "height": self.height, "renditions": []}
        if self.duration_s is not None:
            out["duration_s"] = self.duration_s
        return out


def identify(path: Path, *, sniffed: UploadKind, filename: str) -> Content:
    """Probe the whole file: it must read as the kind its magic bytes announced. Anything else
    (unreadable, sound only, a photo's signature on a video) is :class:`UnsupportedMedia` naming
    ``filename`` (never the spool file's name)."""
    try:
        found = detect(path)
        info = probe(path)
    except InvalidMedia as exc:
        raise _unsupported(filename, f"the probe could not read it [{exc.code}]") from None
    if found.kind == "audio":
        raise _unsupported(filename, "it holds sound only")
    if found.kind != sniffed:
        raise _unsupported(filename, f"it starts like a {sniffed} but reads as a {found.kind}")
    if sniffed is UploadKind.PHOTO:
        video = info.primary_video
        width, height = (video.width, video.height) if video else (0, 0)
        content = Content(sniffed, found.media_type, width, height)
    else:
        facts = video_facts(info)
        content = Content(sniffed, found.media_type, int(facts["width"]), int(facts["height"]), facts["duration_s"])
    if content.width < 1 or content.height < 1:  # a signature and nothing behind it
        raise _unsupported(filename, "the probe found no picture size in it")
    return content


_SUFFIXES = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif", "image/tiff": ".tif",
    "image/bmp": ".bmp", "image/avif": ".avif", "image/heic": ".heic", "image/heif": ".heif",
    "video/mp4": ".mp4", "video/quicktime": ".mov", "video/x-m4v": ".m4v", "video/3gpp": ".3gp",
    "video/3gpp2": ".3g2", "video/x-matroska": ".mkv", "video/x-msvideo": ".avi", "video/mpeg": ".mpg",
    "video/mp2t": ".ts", "video/x-flv": ".flv", "video/x-ms-asf": ".wmv", "video/ogg": ".ogv",
}  # fmt: skip


def suffix_for(media_type: str | None) -> str:
    """The usual file suffix of a media type (the source blob's key ends with it; tools like it)."""
    return _SUFFIXES.get(media_type or "", "")
