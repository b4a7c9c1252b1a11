"""How a page of feed candidates is ordered: a small scorer interface, reverse-chronological by
default. A scorer orders one page of candidates (the posts the cursor's window holds), so the
cursor stays a position in time whatever the order within a page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["Candidate", "Origin", "ReverseChronological", "Scorer"]


class Origin(StrEnum):
    PUSHED = "pushed"  # from the viewer's home feed (fan-out on write)
    PULLED = "pulled"  # from a followee's recent posts, merged at read time


@dataclass(frozen=True, slots=True)
class Candidate:
    post_id: str
    origin: Origin


class Scorer(Protocol):
    """Orders one page of candidates (all visible, all to be shown): best first."""

    def rank(self, candidates: Sequence[Candidate]) -> list[Candidate]: ...


class ReverseChronological:
    """Newest first: ids are ULIDs, so id order is time order."""

    def rank(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: c.post_id, reverse=True)
