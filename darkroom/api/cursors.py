"""Opaque page cursors: a small JSON position, versioned, url-safe, and signed so clients cannot
forge them.

A cursor is ``base64url(version byte || JSON || tag)`` without padding. The JSON is
``{"l": <list>, "p": <position>}``: ``list`` names the listing the cursor belongs to (``feed``,
``followers:<account>``…), so a cursor of one list is refused by another. With a server secret the
tag is the first 16 bytes of HMAC-SHA256(secret, version byte || JSON); without one there is no
tag (tests, or positions that reveal and risk nothing). Anything else — garbled base64, another
version, a wrong or missing tag, JSON that is not a position, another list, more than
:data:`MAX_CURSOR_CHARS` — is :class:`~darkroom.api.errors.InvalidCursor` naming the cursor.

Positions are what a keyset query needs to continue (``{"id": "01J…"}``), never offsets: a cursor
stays valid while new items arrive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

import orjson

from darkroom.api.errors import InvalidCursor

__all__ = ["CURSOR_FIELD", "MAX_CURSOR_CHARS", "VERSION", "CursorCodec"]

VERSION = 1
MAX_CURSOR_CHARS = 512
CURSOR_FIELD = "cursor"  # the query parameter (and gRPC ``page_token``'s role) errors name
_TAG_BYTES = 16
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _shown(text: str) -> str:
    return repr(text if len(text) <= 64 else text[:61] + "...")


class CursorCodec:
    """Encodes and decodes the cursors of one server. ``secret``: the signing key (None: unsigned)."""

    def __init__(self, secret: bytes | None = None) -> None:
        if secret is not None and len(secret) < 16:
            raise ValueError("a cursor secret needs at least 16 bytes")
        self._secret = secret

    def _tag(self, signed: bytes) -> bytes:
        if self._secret is None:
            return b""
        return hmac.new(self._secret, signed, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, position: Mapping[str, Any], *, list_name: str) -> str:
        """The cursor continuing list ``list_name`` after ``position`` (JSON-serialisable values)."""
        payload = bytes([VERSION]) + orjson.dumps({"l": list_name, "p": dict(position)})
        text = _b64encode(payload + self._tag(payload))
        if len(text) > MAX_CURSOR_CHARS:
            raise ValueError(f"a cursor position of {len(text)} characters is too large (max {MAX_CURSOR_CHARS})")
        return text

    def decode(self, cursor: str, *, list_name: str) -> dict[str, Any]:
        """The position ``cursor`` holds for list ``list_name``; :class:`InvalidCursor` otherwise."""

        def refuse(why: str) -> InvalidCursor:
            return InvalidCursor(f"cursor {_shown(cursor)} {why}; start again without a cursor", field=CURSOR_FIELD)

        if not cursor or len(cursor) > MAX_CURSOR_CHARS:
            raise refuse(f"must be 1-{MAX_CURSOR_CHARS} characters")
        try:
            if not _ALPHABET.fullmatch(cursor):
                raise ValueError(cursor)
            raw = _b64decode(cursor)
        except (binascii.Error, ValueError):
            raise refuse("is not url-safe base64") from None
        if raw[:1] != bytes([VERSION]):
            raise refuse("is not a cursor of this server (unknown version)")
        tag_bytes = _TAG_BYTES if self._secret is not None else 0
        payload, tag = raw[: len(raw) - tag_bytes], raw[len(raw) - tag_bytes :]
        if len(payload) < 2 or not hmac.compare_digest(tag, self._tag(payload)):
            raise refuse("was not issued by this server (bad signature)")
        try:
            body = orjson.loads(payload[1:])
        except orjson.JSONDecodeError:
            raise refuse("holds no position") from None
        if not isinstance(body, dict) or not isinstance(body.get("p"), dict):
            raise refuse("holds no position")
        if body.get("l") != list_name:
            raise refuse(f"belongs to another list, not {list_name!r}")
        position: dict[str, Any] = body["p"]
        return position
