"""What the stats pages show, as plain values: a post's days (every day from its first counted one,
the days without events as zeros) with its totals, and the pipeline's days per workflow and
priority. The tables hold the numbers as text and as ``data-*`` attributes, which
``static/table_charts.js`` draws: the table is the chart's data, no second request.

The analytics package (pyiceberg, pyarrow) is imported for types only: a process imports it at
its first stats read (``WebDeps.stats``), not when the pages load."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from darkroom.analytics.reads import PostDay, SlaDay

__all__ = [
    "MAX_DAYS_SHOWN",
    "NO_VALUE",
    "DayRow",
    "PostStats",
    "SlaRow",
    "duration_text",
    "post_stats",
    "sla_rows",
]

NO_VALUE = "\u2013"  # an en dash: a day without the value (no step, or no run, finished)
MAX_DAYS_SHOWN = 90  # a post's chart and table: the 90 days up to its last counted one
_EPOCH = dt.date(1970, 1, 1)


def _epoch_s(day: dt.date) -> int:
    return (day - _EPOCH).days * 86_400


def _day_label(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


@dataclass(frozen=True, slots=True)
class DayRow:
    """A post's day: ``t`` its UTC midnight in epoch seconds (the chart's x)."""

    iso: str
    label: str
    t: int
    impressions: int
    unique_viewers: int
    likes: int
    comments: int


@dataclass(frozen=True, slots=True)
class PostStats:
    days: tuple[DayRow, ...]  # oldest first, at most MAX_DAYS_SHOWN
    impressions: int  # totals over every counted day, shown or not
    likes: int
    comments: int
    most_viewers: int  # the most unique viewers of one day (distinct viewers do not add up)
    counted_days: int  # days with events
    earlier_days: int  # days before the first shown one that had events

    @property
    def empty(self) -> bool:
        return not self.days


def post_stats(found: Sequence[PostDay]) -> PostStats:
    """``found`` (a post's counted days, oldest first) as every day from the first to the last,
    zeros between them, the last :data:`MAX_DAYS_SHOWN` of them shown."""
    if not found:
        return PostStats((), 0, 0, 0, 0, 0, 0)
    by_day = {d.day: d for d in found}
    last = found[-1].day
    first = max(found[0].day, last - dt.timedelta(days=MAX_DAYS_SHOWN - 1))
    rows = []
    for offset in range((last - first).days + 1):
        day = first + dt.timedelta(days=offset)
        d = by_day.get(day)
        counts = (d.impressions, d.unique_viewers, d.likes, d.comments) if d else (0, 0, 0, 0)
        rows.append(DayRow(day.isoformat(), _day_label(day), _epoch_s(day), *counts))
    return PostStats(
        days=tuple(rows),
        impressions=sum(d.impressions for d in found),
        likes=sum(d.likes for d in found),
        comments=sum(d.comments for d in found),
        most_viewers=max(d.unique_viewers for d in found),
        counted_days=len(found),
        earlier_days=sum(1 for d in found if d.day < first),
    )


def duration_text(ms: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4.2 min``; a negative lateness is early (``-3.1 s``); none: :data:`NO_VALUE`."""
    if ms is None:
        return NO_VALUE
    size = abs(ms)
    if size < 1000:
        return f"{ms:.0f} ms"
    if size < 60_000:
        return f"{ms / 1000:.1f} s"
    if size < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


def _raw(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@dataclass(frozen=True, slots=True)
class SlaRow:
    """A day of one workflow at one priority; ``series`` names its line on the charts. The
    ``*_ms`` strings are the raw numbers for the charts (empty: none that day)."""

    iso: str
    label: str
    t: int
    workflow: str
    priority: str
    series: str
    steps: int
    step_p50: str
    step_p95: str
    workflows: int
    late: int
    lateness_p50: str
    lateness_p95: str
    lateness_max: str
    step_p50_ms: str
    step_p95_ms: str
    lateness_p95_ms: str


def sla_rows(found: Sequence[SlaDay]) -> tuple[SlaRow, ...]:
    """``found`` newest day first, then by workflow and priority."""
    ordered = sorted(found, key=lambda d: (-d.day.toordinal(), d.workflow, d.priority))
    return tuple(
        SlaRow(
            iso=d.day.isoformat(),
            label=_day_label(d.day),
            t=_epoch_s(d.day),
            workflow=d.workflow,
            priority=d.priority,
            series=f"{d.workflow} · {d.priority}",
            steps=d.steps,
            step_p50=duration_text(d.step_p50_ms),
            step_p95=duration_text(d.step_p95_ms),
            workflows=d.workflows,
            late=d.late,
            lateness_p50=duration_text(d.lateness_p50_ms),
            lateness_p95=duration_text(d.lateness_p95_ms),
            lateness_max=duration_text(d.lateness_max_ms),
            step_p50_ms=_raw(d.step_p50_ms),
            step_p95_ms=_raw(d.step_p95_ms),
            lateness_p95_ms=_raw(d.lateness_p95_ms),
        )
        for d in ordered
    )
