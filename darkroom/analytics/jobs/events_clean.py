"""``darkroom.events_clean``: every event, typed and enriched (pattern 1: one source row, one
target row, appended).

Each run appends the transform of exactly the rows the change set's files hold; the job's state
in the same commit makes a second run over the same change a no-op. Columns beside the event's
own: its UTC ``day``, and the fields of ``properties`` the later jobs use, parsed once here (the
post's ``tags``, a comment's id, a workflow event's ``workflow``, ``step``, ``priority``,
``state``, ``duration_ms``, ``lateness_ms``). A field of the wrong shape becomes NULL (TRY_CAST):
a bad event never stops the job.
"""

from __future__ import annotations

from typing import ClassVar

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import DateType, ListType, LongType, NestedField, StringType, TimestamptzType

from darkroom.analytics.changes import ChangeSet, read_changes
from darkroom.analytics.jobs.job import Job, Output, Pattern
from darkroom.analytics.tables import EVENTS, NAMESPACE

__all__ = ["EVENTS_CLEAN", "EventsClean"]

EVENTS_CLEAN = (NAMESPACE, "events_clean")

# DuckDB's JSON functions; Spark: get_json_object / from_json(…, 'array<string>'), Trino:
# json_extract_scalar / CAST(json_extract(…) AS ARRAY(VARCHAR)) (docs/analytics.md).
_SQL = """
SELECT
    event_id,
    type,
    occurred_at,
    CAST(occurred_at AS DATE) AS day,
    account_id,
    post_id,
    CASE WHEN type = 'post.created' THEN TRY_CAST(json_extract(properties, '$.tags') AS VARCHAR[]) END AS tags,
    json_extract_string(properties, '$.comment_id') AS comment_id,
    json_extract_string(properties, '$.workflow') AS workflow,
    json_extract_string(properties, '$.step') AS step,
    json_extract_string(properties, '$.priority') AS priority,
    json_extract_string(properties, '$.state') AS state,
    TRY_CAST(json_extract_string(properties, '$.duration_ms') AS BIGINT) AS duration_ms,
    TRY_CAST(json_extract_string(properties, '$.lateness_ms') AS BIGINT) AS lateness_ms,
    properties
FROM source
"""


class EventsClean(Job):
    name: ClassVar[str] = "events_clean"
    description: ClassVar[str] = "every event typed: its day, and properties parsed into columns"
    pattern: ClassVar[Pattern] = Pattern.ONE_TO_ONE
    source: ClassVar[tuple[str, str]] = EVENTS
    target: ClassVar[tuple[str, str]] = EVENTS_CLEAN
    schema: ClassVar[Schema] = Schema(
        NestedField(1, "event_id", StringType(), required=True),
        NestedField(2, "type", StringType(), required=True),
        NestedField(3, "occurred_at", TimestamptzType(), required=True),
        NestedField(4, "day", DateType(), required=True),
        NestedField(5, "account_id", StringType(), required=False),
        NestedField(6, "post_id", StringType(), required=False),
        NestedField(7, "tags", ListType(15, StringType(), element_required=False), required=False),
        NestedField(8, "comment_id", StringType(), required=False),
        NestedField(9, "workflow", StringType(), required=False),
        NestedField(10, "step", StringType(), required=False),
        NestedField(11, "priority", StringType(), required=False),
        NestedField(12, "state", StringType(), required=False),
        NestedField(13, "duration_ms", LongType(), required=False),
        NestedField(14, "lateness_ms", LongType(), required=False),
        NestedField(16, "properties", StringType(), required=True),
        identifier_field_ids=[1],
    )
    spec: ClassVar[PartitionSpec] = PartitionSpec(
        PartitionField(source_id=3, field_id=1000, transform=DayTransform(), name="occurred_day")
    )
    key: ClassVar[tuple[str, ...]] = ("event_id",)
    time_column: ClassVar[str] = "occurred_at"
    sql: ClassVar[str] = _SQL

    def incremental(self, source: Table, target: Table, changes: ChangeSet) -> Output:
        return Output.append(self.transform(read_changes(source, changes)))
