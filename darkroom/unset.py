"""``UNSET``: the one "leave this as it is" sentinel of the package tree (``None`` is a value)."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["UNSET", "Unset"]


class Unset(enum.Enum):
    """The type of ``UNSET``; a one-member enum, so ``x is UNSET`` narrows types."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
