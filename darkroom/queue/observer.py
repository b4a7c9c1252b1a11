"""A hook for client-side measurements (dequeue latency, lateness), e.g. Prometheus.

Counters of state changes are kept by the scripts themselves in Redis (``P counters``), so they
are exact across every process; what only a client can see goes through an observer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["NullObserver", "QueueObserver"]


class QueueObserver(Protocol):
    def dequeued(self, queue: str, count: int, seconds: float) -> None:
        """A dequeue call returned ``count`` leases after ``seconds`` (long-poll time included)."""

    def settled(self, queue: str, lateness_s: Sequence[float], failed: int, lost: int) -> None:
        """Leases were completed (their lateness: completion minus deadline), failed, or lost."""


class NullObserver:
    def dequeued(self, queue: str, count: int, seconds: float) -> None:
        return None

    def settled(self, queue: str, lateness_s: Sequence[float], failed: int, lost: int) -> None:
        return None
