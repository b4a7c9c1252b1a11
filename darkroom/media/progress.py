"""Progress callbacks of the media functions: ``progress(fraction)`` with ``fraction`` in [0, 1]."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "rising", "span"]

Progress = Callable[[float], None]


def rising(progress: Progress | None) -> Progress | None:
    """``progress`` reported only when it moves forward: ffmpeg's output time can step back (several
    outputs, B-frames) and a metric pass retried alone starts again from 0; callers want a rising bar."""
    if progress is None:
        return None
    best = [0.0]

    def report(fraction: float) -> None:
        if fraction > best[0]:
            best[0] = fraction
            progress(fraction)

    return report


def span(progress: Progress | None, low: float, high: float) -> Progress | None:
    """``progress`` for one part of a longer job: 0..1 mapped onto ``low``..``high``."""
    if progress is None:
        return None
    return lambda fraction: progress(low + (high - low) * fraction)
