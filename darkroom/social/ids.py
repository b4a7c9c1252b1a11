"""Time-ordered ids (ULIDs): 26 characters whose string order is creation order, so feeds, cursors
and ``ORDER BY id`` sort by time with no second column. Made in the process (no round trip)."""

from __future__ import annotations

import re

from ulid import ULID

from darkroom.social.errors import InvalidInput

__all__ = ["check_id", "new_id", "time_ms"]

_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def new_id() -> str:
    """A new ULID, monotonic within this process's millisecond."""
    return str(ULID())


def check_id(value: object, *, field: str = "id") -> str:
    """``value`` when it is a well-formed id, else :class:`InvalidInput` naming it."""
    if not isinstance(value, str) or not _ULID.fullmatch(value):
        raise InvalidInput(f"{field} {value!r} is not a Darkroom id (26 characters, Crockford base32)", field=field)
    return value


def time_ms(id_: str) -> int:
    """The millisecond an id was made at."""
    return ULID.from_str(id_).milliseconds
