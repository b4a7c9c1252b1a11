"""The few ISO-BMFF (MP4) boxes PyAV does not expose, read straight from the file: track rotation."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["mp4_rotation"]

_MAX_BOXES = 4096  # per ISO-BMFF level: a crafted file of tiny boxes must not keep us looping


def mp4_rotation(path: Path) -> int:
    """Rotation of the first video track from its ISO-BMFF ``tkhd`` matrix (0 when absent).

    PyAV 18 does not expose stream side data, and decoding a frame just to read the display
    matrix would break the no-decode promise, so the matrix is read from the box itself.
    """
    try:
        with path.open("rb") as f:
            moov = _child(f, 0, path.stat().st_size, b"moov")
            for trak in _children(f, *moov, b"trak") if moov else ():
                hdlr = _child(f, *(_child(f, *trak, b"mdia") or (0, 0)), b"hdlr")
                if hdlr and _read(f, hdlr[0] + 8, 4) == b"vide":
                    tkhd = _child(f, *trak, b"tkhd")
                    return _matrix_rotation(f, tkhd[0]) if tkhd else 0
    except (OSError, struct.error, ValueError):
        pass  # a damaged index: PyAV already accepted the file, rotation stays unknown (0)
    return 0


def _children(f: BinaryIO, start: int, end: int, kind: bytes) -> Iterator[tuple[int, int]]:
    """(body start, body end) of every box of type ``kind`` between ``start`` and ``end``."""
    at, seen = start, 0
    while at + 8 <= end and seen < _MAX_BOXES:
        seen += 1
        size, box = struct.unpack(">I4s", _read(f, at, 8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", _read(f, at + 8, 8))
            header = 16
        elif size == 0:
            size = end - at
        if size < header:
            return
        if box == kind:
            yield at + header, min(at + size, end)
        at += size


def _child(f: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(_children(f, start, end, kind), None)


def _read(f: BinaryIO, at: int, n: int) -> bytes:
    f.seek(at)
    data = f.read(n)
    if len(data) != n:
        raise ValueError("short read")
    return data


def _matrix_rotation(f: BinaryIO, body: int) -> int:
    version = _read(f, body, 1)[0]
    a, b, _, c, d = struct.unpack(">5i", _read(f, body + (52 if version == 1 else 40), 20))
    if not (a or c) or not (b or d):
        return 0  # a degenerate matrix: ffmpeg reports no rotation either
    # av_display_rotation_get(): the angle of the first column, negated to counterclockwise
    angle = -math.degrees(math.atan2(b / math.hypot(b, d), a / math.hypot(a, c)))
    rounded = round(angle) % 360
    return rounded - 360 if rounded > 180 else rounded
