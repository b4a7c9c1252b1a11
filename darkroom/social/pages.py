"""Cursor pages: the one shape every list of the social domain answers.

A cursor is an ``api.cursors`` token holding the keyset position after a page's last item (never
an offset, so pages stay stable while rows arrive), bound to one list (``likes:<post id>``…) so a
cursor of one list is refused by every other. The lists take the codec as ``cursors=``: the HTTP
app passes its signing codec (``WebDeps.cursors``), other callers get :data:`UNSIGNED` (positions
are ids and times the reader has seen anyway). ``limit`` is 1 to :data:`MAX_LIMIT`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from darkroom.api.cursors import CURSOR_FIELD, CursorCodec
from darkroom.api.errors import InvalidCursor
from darkroom.social.errors import InvalidInput
from darkroom.social.ids import check_id

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "UNSIGNED", "Keyset", "Page", "check_limit", "decode", "encode"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
UNSIGNED = CursorCodec()
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


def encode(codec: CursorCodec, list_name: str, position: Keyset) -> str:
    """The cursor continuing ``list_name`` after ``position``."""
    held: dict[str, object] = {"id": position.id} if position.at is None else {"id": position.id, "at": position.at}
    return codec.encode(held, list_name=list_name)


def decode(codec: CursorCodec, cursor: object, list_name: str, *, timed: bool = False) -> Keyset:
    """The position a cursor of ``list_name`` holds; anything else (another list's cursor, a forged,
    truncated or unsigned one) is :class:`InvalidCursor` naming it."""
    shown = repr(cursor) if len(repr(cursor)) <= 60 else repr(cursor)[:57] + "..."

    def refuse() -> InvalidCursor:
        return InvalidCursor(f"cursor {shown} holds no position of this list", field=CURSOR_FIELD)

    if not isinstance(cursor, str):
        raise refuse()
    held = codec.decode(cursor, list_name=list_name)
    try:
        id_ = check_id(held.get("id"), field=CURSOR_FIELD)
    except InvalidInput:
        raise refuse() from None
    if not timed:
        return Keyset(id_)
    at = held.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise refuse()
    return Keyset(id_, float(at))
