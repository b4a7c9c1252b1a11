"""Opaque feed cursors: the position after the last post served (a post id), so a page boundary
stays put while newer posts arrive above it.

A cursor is base64url of a version byte, the id's 16 bytes and a 6-byte BLAKE2b tag. The tag is an
integrity check, not a secret: a cursor only names a position in the reader's own feed, so a forged
one can show nothing a reader could not page to; the check turns a garbled or hand-made cursor into
a clear error instead of a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from ulid import ULID

from darkroom.social.errors import InvalidInput

__all__ = ["decode", "encode"]

_VERSION = b"\x01"
_TAG_BYTES = 6
_PERSON = b"darkroom.feed"  # BLAKE2b personalisation: a tag made for another purpose does not match
_SIZE = len(_VERSION) + 16 + _TAG_BYTES
_SHOWN_CHARS = 60  # of a bad cursor, in the error (it may be huge)


def _tag(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=_TAG_BYTES, person=_PERSON).digest()


def encode(post_id: str) -> str:
    """The cursor for the position just after ``post_id`` (older posts follow)."""
    body = _VERSION + ULID.from_str(post_id).bytes
    return base64.urlsafe_b64encode(body + _tag(body)).rstrip(b"=").decode()


def decode(cursor: str) -> str:
    """The post id ``cursor`` holds, or :class:`InvalidInput` naming the cursor."""
    raw = b""
    if isinstance(cursor, str) and len(cursor) <= 64 and cursor.isascii():
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raw = b""
    # the canonical spelling only: base64 ignores the last character's spare bits, so two cursors
    # would otherwise read as one
    canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == cursor
    if not canonical or len(raw) != _SIZE or raw[:1] != _VERSION or raw[-_TAG_BYTES:] != _tag(raw[:-_TAG_BYTES]):
        shown = cursor if not isinstance(cursor, str) or len(cursor) <= _SHOWN_CHARS else cursor[:_SHOWN_CHARS] + "…"
        raise InvalidInput(
            f"cursor {shown!r} is not a feed cursor: pass next_cursor from a page unchanged", field="cursor"
        )
    return str(ULID.from_bytes(raw[1:17]))
