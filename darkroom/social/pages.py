"""Cursor pages: the one shape every list of the social domain answers, and its opaque cursors.

A cursor is the keyset position after a page's last item (never an offset, so pages stay stable
while new rows arrive), wrapped as url-safe base64 of ``[kind, ...]`` so a client treats it as
opaque and a cursor of one list is refused by another. ``limit`` is 1 to :data:`MAX_LIMIT`.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from darkroom.social.errors import InvalidInput
from darkroom.social.ids import check_id

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Keyset", "Page", "check_limit", "decode", "encode"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Keyset:
    """A position in a list ordered by ``id`` alone (``at`` None) or by ``(at, id)``."""

    id: str
    at: float | None = None


def check_limit(limit: object, *, field: str = "limit") -> int:
    """``limit`` when it is an int from 1 to :data:`MAX_LIMIT`, else :class:`InvalidInput` naming it."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"{field} {limit!r} must be a whole number from 1 to {MAX_LIMIT}", field=field)
    return limit


def encode(kind: str, position: Keyset) -> str:
    """The cursor of ``position`` in a list of ``kind``."""
    parts: list[object] = [kind, position.id] if position.at is None else [kind, position.id, position.at]
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def decode(cursor: object, kind: str, *, timed: bool = False, field: str = "cursor") -> Keyset:
    """The position a cursor from :func:`encode` holds; anything else (another list's cursor, a
    forged or truncated one) is :class:`InvalidInput` naming it."""
    shown = repr(cursor) if len(repr(cursor)) <= 60 else repr(cursor)[:57] + "..."

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(f"{field} {shown} is not a cursor of this list: {why}", field=field)

    if not isinstance(cursor, str) or len(cursor) > 200:
        raise refuse("expected the next_cursor of a previous page")
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise refuse("it does not decode") from exc
    if not isinstance(parts, list) or len(parts) != (3 if timed else 2) or parts[0] != kind:
        raise refuse("it belongs to another list")
    id_ = check_id(parts[1], field=field)
    if not timed:
        return Keyset(id_)
    at = parts[2]
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise refuse("its time is not a number")
    return Keyset(id_, float(at))
