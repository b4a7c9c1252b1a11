"""Small statistics helpers (no numpy: the project venv does not have it)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile", "rate_between"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def rate_between(times: Sequence[float], low: float = 0.1, high: float = 0.9) -> float:
    """Events per second between the ``low`` and ``high`` fractions of the events."""
    ordered = sorted(times)
    if len(ordered) < 10:
        return math.nan
    i, j = int(low * len(ordered)), int(high * len(ordered)) - 1
    span = ordered[j] - ordered[i]
    return (j - i) / span if span > 0 else math.inf
