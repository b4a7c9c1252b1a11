"""Checks that a published file carries none of its source's metadata (tests only).

:func:`leaks` reads a file back with PyAV (global and stream metadata), walks the boxes of ISO BMFF
files (MP4, fMP4 init and media segments) and scans the bytes outside media payloads, and for
JPEGs looks for EXIF/XMP segments. It returns what it found, in words; ``[]`` is clean.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av

__all__ = ["SourceMetadata", "iso_boxes", "leaks"]

# Boxes whose children are boxes (meta has a 4-byte version/flags header first).
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"moof", b"traf", b"mvex",
               b"meta", b"ilst"}  # fmt: skip
_PAYLOADS = {b"mdat"}  # media data: compressed bytes, where any 3 or 4 bytes may appear by chance
# Keys an encode may legitimately carry (ffmpeg's own, none from the source).
_ALLOWED_KEYS = {"major_brand", "minor_version", "compatible_brands", "encoder", "handler_name", "language",
                 "vendor_id", "duration"}  # fmt: skip
_DEFAULT_HANDLERS = {"VideoHandler", "SoundHandler"}
_MAC_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SourceMetadata:
    """What the source file says that must not be published: its location (ISO 6709), device
    strings, capture time and handler names."""

    location: str
    device: tuple[str, ...]
    creation_time: datetime
    handlers: tuple[str, ...] = ()

    def needles(self) -> dict[str, bytes]:
        """Byte strings that must appear nowhere outside media payloads."""
        found = {"loci atom": b"loci", "\u00a9xyz atom": b"\xa9xyz", "xyz": b"xyz", "location": self.location.encode()}
        for part in self.location.replace("+", " ").replace("-", " ").split():
            found[f"location part {part}"] = part.strip("/").encode()
        for device in self.device:
            found[f"device {device}"] = device.encode()
        for handler in self.handlers:
            found[f"handler {handler}"] = handler.encode() + b"\x00"  # "VideoHandle\0", not "VideoHandler"
        seconds = int((self.creation_time - _MAC_EPOCH).total_seconds())
        found["creation time (1904 epoch)"] = struct.pack(">I", seconds)
        return found


def iso_boxes(data: bytes, start: int = 0, end: int | None = None, path: str = "") -> Iterator[tuple[str, int, int]]:
    """(box path, payload start, box end) of every box, depth first; stops at anything malformed."""
    end = len(data) if end is None else end
    off = start
    while off + 8 <= end:
        size, kind = struct.unpack(">I4s", data[off : off + 8])
        header = 8
        if size == 1 and off + 16 <= end:
            size, header = struct.unpack(">Q", data[off + 8 : off + 16])[0], 16
        elif size == 0:
            size = end - off
        if size < header or off + size > end:
            return
        name = f"{path}/{kind.decode('latin-1')}"
        yield name, off + header, off + size
        if kind in _CONTAINERS:
            inner = off + header + (4 if kind == b"meta" else 0)
            yield from iso_boxes(data, inner, off + size, name)
        off += size


def _is_iso(data: bytes) -> bool:
    return len(data) >= 8 and data[4:8] in {b"ftyp", b"styp", b"moof", b"moov", b"sidx"}


def _without_payloads(data: bytes) -> tuple[bytes, list[str]]:
    """The file's bytes with media payloads cut out, and the box paths found."""
    kept = bytearray()
    paths = []
    for name, body, end in iso_boxes(data):
        paths.append(name)
        if name.count("/") == 1:  # top-level boxes: keep all but payloads
            kept += data[body - 8 : body] if name[1:].encode("latin-1") in _PAYLOADS else data[body - 8 : end]
    return bytes(kept), paths


def _jpeg_segments(data: bytes) -> list[int]:
    """Markers of a JPEG's header segments (APPn, COM…) up to the start of scan."""
    markers, off = [], 2
    while off + 4 <= len(data) and data[off] == 0xFF:
        marker = data[off + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: compressed data follows
            break
        off += 2 + struct.unpack(">H", data[off + 2 : off + 4])[0]
    return markers


def leaks(path: Path, source: SourceMetadata) -> list[str]:
    """Every trace of ``source``'s metadata in ``path``."""
    data = path.read_bytes()
    found: list[str] = []
    scanned = data
    if _is_iso(data):
        scanned, paths = _without_payloads(data)
        for box in paths:
            leaf = box.rsplit("/", 1)[1]
            if leaf in {"loci", "\xa9xyz", "keys", "\xa9mak", "\xa9mod", "\xa9day", "\xa9too", "XMP_", "uuid"}:
                found.append(f"{path.name}: box {box}")
            if "/udta/" in box and not box.endswith(("/udta/meta", "/meta/hdlr", "/meta/ilst")):
                found.append(f"{path.name}: user data box {box}")
        ilst = [data[b:e] for name, b, e in iso_boxes(data) if name.endswith("/ilst")]
        found += [f"{path.name}: a non-empty ilst ({len(i)} bytes)" for i in ilst if i]
    elif data[:2] == b"\xff\xd8":
        segments = _jpeg_segments(data)
        scanned = data[: data.find(b"\xff\xda")] if b"\xff\xda" in data else data
        found += [f"{path.name}: JPEG APP{m - 0xE0} segment" for m in segments if 0xE1 <= m <= 0xEF]
    for what, needle in source.needles().items():
        if needle in scanned:
            found.append(f"{path.name}: {what} ({needle!r}) in the bytes")
    if path.suffix.lower() in {".mp4", ".m4s", ".m4a", ".webm", ".mkv", ".mov"}:
        found += _read_back(path, source)
    return found


def _read_back(path: Path, source: SourceMetadata) -> list[str]:
    """What PyAV (FFmpeg's demuxers) reports: no source keys, no capture time, default handlers."""
    if path.suffix == ".m4s" and "init" not in path.name:
        return []  # a media segment alone is not a file FFmpeg opens; its bytes were scanned above
    found = []
    with av.open(str(path)) as container:
        tables = [("file", dict(container.metadata))]
        tables += [(f"stream {s.index}", dict(s.metadata)) for s in container.streams]
    for where, table in tables:
        for key, value in table.items():
            if key not in _ALLOWED_KEYS:
                found.append(f"{path.name}: {where} metadata {key}={value!r}")
            elif key == "handler_name" and value not in _DEFAULT_HANDLERS:
                found.append(f"{path.name}: {where} handler {value!r}")
            elif source.location in value or any(d in value for d in source.device):
                found.append(f"{path.name}: {where} metadata {key}={value!r}")
    return found
