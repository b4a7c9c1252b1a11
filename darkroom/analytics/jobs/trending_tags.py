"""``darkroom.trending_tags``: hashtag scores over a rolling 24-hour window, one row per hour.

For every whole hour ``window_end`` and hashtag, over the ``post.created`` events of
``events_clean`` with ``window_end - 24 h <= occurred_at < window_end``: ``posts`` (posts that used
the tag) and ``score`` (distinct authors who used it: one account's burst counts once). A row
exists when ``posts > 0``. Tags come from the ``tags`` property of ``post.created`` (the caption's
hashtags, normalised by :mod:`darkroom.social.captions`).

Pattern 3, range recompute: an event at ``t`` falls in the windows ending in ``(t, t + 24 h]``.
The change's ``post.created`` events (one column of the added files, read with the type pushed
down) give the window ends they touch; their union, as disjoint ranges, is recomputed from every
source row 24 h before each range's start up to its end, and replaces those windows in one
commit. A post from three days ago arriving late recomputes the 24 windows after it, nothing else;
other late events (views, likes) recompute nothing here. (The files' ``occurred_at`` bounds, read
from the manifests alone, were the first version: a file of late events spans most of a day, and
so a day of windows per late file, with or without a post in it.)
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import And, BooleanExpression
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

from darkroom.analytics.changes import ChangeSet, Range, merge_ranges, read_changes
from darkroom.analytics.jobs.events_clean import EVENTS_CLEAN
from darkroom.analytics.jobs.filters import (
    US_PER_HOUR,
    any_of,
    at_least,
    at_most,
    day_start_us,
    equal,
    instant,
    time_between,
)
from darkroom.analytics.jobs.job import Job, Output, Pattern
from darkroom.analytics.tables import NAMESPACE

__all__ = ["TRENDING_TAGS", "WINDOW_HOURS", "TrendingTags", "affected_windows"]

TRENDING_TAGS = (NAMESPACE, "trending_tags")
WINDOW_HOURS = 24
_OFFSETS = ", ".join(f"({k})" for k in range(1, WINDOW_HOURS + 1))

# Spark: LATERAL VIEW explode(tags) t AS tag; Trino as written (docs/analytics.md).
_SQL = f"""
WITH uses AS (
    SELECT DISTINCT event_id, account_id, date_trunc('hour', occurred_at) AS hour, tag
    FROM source CROSS JOIN UNNEST(tags) AS t (tag)
    WHERE type = 'post.created'
),
offsets (k) AS (VALUES {_OFFSETS})
SELECT
    hour + k * INTERVAL '1' HOUR AS window_end,
    tag,
    COUNT(DISTINCT event_id) AS posts,
    COUNT(DISTINCT account_id) AS score
FROM uses CROSS JOIN offsets
GROUP BY hour + k * INTERVAL '1' HOUR, tag
"""


def affected_windows(changes: list[Range]) -> list[Range]:
    """The window ends (inclusive, whole hours) that events in ``changes`` fall in, merged."""
    hours = [
        Range(
            r.lower - r.lower % US_PER_HOUR + US_PER_HOUR, r.upper - r.upper % US_PER_HOUR + WINDOW_HOURS * US_PER_HOUR
        )
        for r in changes
    ]
    return merge_ranges(hours, gap=US_PER_HOUR)


class TrendingTags(Job):
    name: ClassVar[str] = "trending_tags"
    description: ClassVar[str] = "hashtags of new posts over a rolling 24 h window, every hour"
    pattern: ClassVar[Pattern] = Pattern.RANGE
    source: ClassVar[tuple[str, str]] = EVENTS_CLEAN
    target: ClassVar[tuple[str, str]] = TRENDING_TAGS
    schema: ClassVar[Schema] = Schema(
        NestedField(1, "window_end", TimestamptzType(), required=True),
        NestedField(2, "tag", StringType(), required=True),
        NestedField(3, "posts", LongType(), required=True),
        NestedField(4, "score", LongType(), required=True),
        identifier_field_ids=[1, 2],
    )
    spec: ClassVar[PartitionSpec] = PartitionSpec(
        PartitionField(source_id=1, field_id=1000, transform=DayTransform(), name="window_day")
    )
    key: ClassVar[tuple[str, ...]] = ("window_end", "tag")
    time_column: ClassVar[str] = "window_end"
    sql: ClassVar[str] = _SQL
    columns: ClassVar[tuple[str, ...]] = ("event_id", "type", "occurred_at", "account_id", "tags")

    def source_filter(self) -> BooleanExpression:
        return equal("type", "post.created")

    def since(self, source: Table, snapshot_id: int, day: dt.date) -> Output:
        """The windows ending from ``day``'s midnight on, from the events 24 h before it on."""
        start = day_start_us(day)
        rows = self.read(source, at_least("occurred_at", instant(start - WINDOW_HOURS * US_PER_HOUR)), snapshot_id)
        out = self.transform(rows)
        keep = pc.greater_equal(pc.cast(out.column("window_end"), pa.int64()), start)
        return Output(out.filter(keep), at_least("window_end", instant(start)))

    def incremental(self, source: Table, target: Table, changes: ChangeSet) -> Output:
        # The windows of the change's own post.created events, not of its files' bounds: a file
        # of late events spans hours to a day, and most of its events are not posts.
        posted = read_changes(source, changes, selected_fields=("occurred_at",), row_filter=self.source_filter())
        times = pc.cast(posted.column("occurred_at"), pa.int64()).to_pylist()
        windows = affected_windows([Range(t, t) for t in set(times)])
        if not windows:
            return Output.append(self.schema.as_arrow().empty_table())
        span = WINDOW_HOURS * US_PER_HOUR
        read = any_of(time_between("occurred_at", w.lower - span, w.upper) for w in windows)
        rows = self.read(source, read, changes.to_snapshot_id)
        out = self.transform(rows)
        # The read range's first windows see only part of their 24 h: keep the affected ones.
        end = pc.cast(out.column("window_end"), pa.int64())
        keep = pa.chunked_array([pa.array([False] * len(out), pa.bool_())])
        for w in windows:
            keep = pc.or_(keep, pc.and_(pc.greater_equal(end, w.lower), pc.less_equal(end, w.upper)))
        replaces = any_of(
            And(at_least("window_end", instant(w.lower)), at_most("window_end", instant(w.upper))) for w in windows
        )
        return Output(out.filter(keep), replaces)
