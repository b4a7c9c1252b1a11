"""``darkroom.pipeline_sla``: per UTC day, workflow and priority class, the step durations'
p50/p95 and the workflows' deadline lateness, from ``step.finished`` and ``workflow.finished``.

The workflow engine writes those two events to the events outbox in the transaction of the pass
that ended the step or run (``darkroom.runtime.workflow.run_events``), in the shape
docs/analytics.md documents (``properties``: ``workflow_id``, ``workflow``, ``priority``,
``state``, and ``step`` plus ``duration_ms`` on ``step.finished``, ``duration_ms`` plus
``lateness_ms`` (signed: finished minus deadline) on ``workflow.finished``).

Pattern 3 at day granularity: a percentile needs every value of its group, so each day that the
change's ``step.finished`` or ``workflow.finished`` events fall on (one column of the added files,
read with the types pushed down) is recomputed whole and replaces that day's rows. A late view
recomputes nothing here; the files' ``occurred_at`` bounds (the first version) recomputed every
day a file of late events touched.
"""

from __future__ import annotations

from typing import ClassVar

from pyiceberg.expressions import BooleanExpression
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DateType, DoubleType, LongType, NestedField, StringType

from darkroom.analytics.changes import ChangeSet, Range, merge_ranges, read_changes
from darkroom.analytics.jobs.events_clean import EVENTS_CLEAN
from darkroom.analytics.jobs.filters import US_PER_DAY, any_of, day_start_us, one_of, time_between
from darkroom.analytics.jobs.job import Job, Output, Pattern
from darkroom.analytics.tables import NAMESPACE

__all__ = ["PIPELINE_SLA", "PipelineSla"]

PIPELINE_SLA = (NAMESPACE, "pipeline_sla")
_TYPES = ("step.finished", "workflow.finished")

# percentile_cont … WITHIN GROUP is standard SQL (DuckDB, Spark 3.3+); Trino has only
# approx_percentile (docs/analytics.md).
_SQL = """
WITH finished AS (
    SELECT
        day, workflow, priority,
        CASE WHEN type = 'step.finished' THEN duration_ms END AS step_ms,
        CASE WHEN type = 'workflow.finished' THEN lateness_ms END AS late_ms,
        CASE WHEN type = 'workflow.finished' THEN 1 ELSE 0 END AS is_workflow
    FROM source
    WHERE type IN ('step.finished', 'workflow.finished') AND workflow IS NOT NULL AND priority IS NOT NULL
)
SELECT
    day, workflow, priority,
    COUNT(step_ms) AS steps,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY step_ms) AS step_p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY step_ms) AS step_p95_ms,
    SUM(is_workflow) AS workflows,
    COUNT(CASE WHEN late_ms > 0 THEN 1 END) AS late,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY late_ms) AS lateness_p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY late_ms) AS lateness_p95_ms,
    MAX(late_ms) AS lateness_max_ms
FROM finished
GROUP BY day, workflow, priority
"""


class PipelineSla(Job):
    name: ClassVar[str] = "pipeline_sla"
    description: ClassVar[str] = "per day, workflow and priority: step p50/p95, deadline lateness"
    pattern: ClassVar[Pattern] = Pattern.RANGE
    source: ClassVar[tuple[str, str]] = EVENTS_CLEAN
    target: ClassVar[tuple[str, str]] = PIPELINE_SLA
    schema: ClassVar[Schema] = Schema(
        NestedField(1, "day", DateType(), required=True),
        NestedField(2, "workflow", StringType(), required=True),
        NestedField(3, "priority", StringType(), required=True),
        NestedField(4, "steps", LongType(), required=True),
        NestedField(5, "step_p50_ms", DoubleType(), required=False),
        NestedField(6, "step_p95_ms", DoubleType(), required=False),
        NestedField(7, "workflows", LongType(), required=True),
        NestedField(8, "late", LongType(), required=True),
        NestedField(9, "lateness_p50_ms", DoubleType(), required=False),
        NestedField(10, "lateness_p95_ms", DoubleType(), required=False),
        NestedField(11, "lateness_max_ms", LongType(), required=False),
        identifier_field_ids=[1, 2, 3],
    )
    spec: ClassVar[PartitionSpec] = PartitionSpec(
        PartitionField(source_id=1, field_id=1000, transform=IdentityTransform(), name="day")
    )
    key: ClassVar[tuple[str, ...]] = ("day", "workflow", "priority")
    time_column: ClassVar[str] = "day"
    sql: ClassVar[str] = _SQL
    columns: ClassVar[tuple[str, ...]] = ("type", "day", "workflow", "priority", "duration_ms", "lateness_ms")

    def source_filter(self) -> BooleanExpression:
        return one_of("type", _TYPES)

    def incremental(self, source: Table, target: Table, changes: ChangeSet) -> Output:
        # The days of the change's own workflow events, not of its files' bounds: a file of late
        # events spans its whole day, and most of its events are not the workflows'.
        finished = read_changes(source, changes, selected_fields=("day",), row_filter=self.source_filter())
        days = sorted(set(finished.column("day").to_pylist()))
        spans = merge_ranges([Range(day_start_us(d), day_start_us(d) + US_PER_DAY - 1) for d in days])
        if not spans:
            return Output.append(self.schema.as_arrow().empty_table())
        read = any_of(time_between("occurred_at", s.lower, s.upper + 1) for s in spans)
        rows = self.read(source, read, changes.to_snapshot_id)
        return Output(self.transform(rows), one_of("day", [d.isoformat() for d in days]))
