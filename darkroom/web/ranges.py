"""Byte ranges (RFC 9110 section 14): which part of a blob a ``Range`` request asks for.

One range per request: ``bytes=first-last``, ``bytes=first-`` and the suffix ``bytes=-n`` (the
last ``n`` bytes). A header that is not one range of bytes (several ranges, another unit, a
malformed one) is ignored and the whole blob answered, as the RFC allows; a well-formed range that
starts at or past the end is unsatisfiable (416). ``If-Range`` with anything but the current
strong ETag (a date, an old tag) asks for the whole blob.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from darkroom.api.etags import ETag

__all__ = ["ByteRange", "Unsatisfiable", "requested_range"]

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive of a blob of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    """A range outside a blob of ``size`` bytes (416, ``Content-Range: bytes */size``)."""

    size: int

    def content_range(self) -> str:
        return f"bytes */{self.size}"


def requested_range(
    header: str | None, size: int, *, etag: ETag, if_range: str | None = None
) -> ByteRange | Unsatisfiable | None:
    """The range ``header`` asks of a blob of ``size`` bytes whose tag is ``etag``; None for the
    whole blob (no header, one this server does not serve by parts, or a stale ``If-Range``)."""
    if header is None:
        return None
    if if_range is not None and if_range.strip() != str(etag):
        return None  # a date or another version: the client wants all of the current one
    match = _RANGE.fullmatch(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None  # "bytes=-" names nothing: malformed, ignored
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            return Unsatisfiable(size)
        return ByteRange(max(0, size - n), size - 1, size)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        return Unsatisfiable(size)
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end, size)
