"""Pages of a list and their keyset cursors.

A cursor is opaque to clients: the sort keys of the last item of a page (e.g. when a follow was
made and the follower's id), JSON in URL-safe base64. The next page starts strictly after those
keys, so rows added meanwhile neither repeat nor shift it. A cursor that does not decode to the
keys the list expects is :class:`InvalidInput` naming it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from darkroom.social.errors import InvalidInput
from darkroom.social.ids import check_id

__all__ = ["MAX_LIMIT", "Keyset", "Page", "check_limit", "decode_keyset", "encode_keyset"]

MAX_LIMIT = 100
T = TypeVar("T")
_PREFIX = "k1:"  # a version: a later cursor format can tell its own from these


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, and the cursor of the next (``None`` on the last page)."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a page ended: the last item's time (epoch seconds) and id."""

    at: float
    id: str


def check_limit(limit: object, *, maximum: int = MAX_LIMIT, field: str = "limit") -> int:
    """``limit`` if it is an integer in 1..``maximum``, else :class:`InvalidInput` naming it."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise InvalidInput(f"{field} {limit!r} is not a whole number from 1 to {maximum}", field=field)
    return limit


def encode_keyset(keys: Keyset) -> str:
    raw = json.dumps([keys.at, keys.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_PREFIX.encode() + raw).decode().rstrip("=")


def decode_keyset(cursor: str | None, *, field: str = "cursor") -> Keyset | None:
    """The keys ``cursor`` holds; ``None`` (or ``""``) starts at the first page."""
    if not cursor:
        return None
    bad = InvalidInput(
        f"{field} {cursor!r} is not a cursor of this list: pass back a next_cursor as given", field=field
    )
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_PREFIX):
            raise bad
        at, id_ = json.loads(text[len(_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise bad from None
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at) or not isinstance(id_, str):
        raise bad
    try:
        check_id(id_, field=field)
    except InvalidInput:
        raise bad from None
    return Keyset(at=float(at), id=id_)
