"""What every incremental job is: a source table, a target table, the SQL between them, and how
a change of the source becomes a change of the target (:class:`Output`).

A job says how to recompute everything (:meth:`Job.full`) and how to recompute from a change set
(:meth:`Job.incremental`); the runner (:mod:`darkroom.analytics.jobs.runner`) decides which,
commits the output with the job's state, and the tests hold the two equal.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, And, BooleanExpression
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import DateType

from darkroom.analytics.changes import ChangeSet
from darkroom.analytics.jobs import scans
from darkroom.analytics.jobs.filters import at_least, day_start_us, instant
from darkroom.analytics.jobs.sql import run_sql, stream_sql
from darkroom.analytics.tables import NAMESPACE

__all__ = ["FULL_CHUNK_ROWS", "JOB_TABLE_PROPERTIES", "Job", "Output", "Pattern", "target_table"]

# No pyiceberg retry: a retried commit would be rebased onto a target whose recorded state the
# run has not read (the same reason as darkroom.events'); the runner plans again instead.
JOB_TABLE_PROPERTIES = {"format-version": "2", "commit.retry.num-retries": "0"}
FULL_CHUNK_ROWS = 1_000_000  # rows a full recompute writes at a time (a data file or a few)


class Pattern(StrEnum):
    """How a source change reaches the target (the three IPS cases)."""

    ONE_TO_ONE = "1→1 append"
    KEYS = "keys: row-level filter + merge"
    RANGE = "range recompute"


@dataclass(frozen=True, slots=True)
class Output:
    """Rows to write and the target rows they replace: ``AlwaysFalse`` appends, ``AlwaysTrue``
    replaces the whole table, any other filter replaces exactly the rows it matches. ``more``
    holds further chunks of rows, written in the same commit as they come (a full recompute
    streams, so the whole target is never in memory)."""

    rows: pa.Table
    replaces: BooleanExpression
    keys: int | None = None  # target keys recomputed, when the job counts them (the keyed merge)
    more: Iterator[pa.Table] = field(default_factory=lambda: iter(()))

    @classmethod
    def append(cls, rows: pa.Table) -> Output:
        return cls(rows, AlwaysFalse())

    @classmethod
    def everything(cls, chunks: Iterator[pa.Table], schema: pa.Schema) -> Output:
        """The whole target, in ``chunks`` (an empty target when there are none)."""
        first = next(chunks, None)
        return cls(schema.empty_table() if first is None else first, AlwaysTrue(), more=chunks)


class Job(ABC):
    """One incremental job. Subclasses set the class attributes and :meth:`incremental`."""

    name: ClassVar[str]
    description: ClassVar[str]
    pattern: ClassVar[Pattern]
    source: ClassVar[tuple[str, str]]
    target: ClassVar[tuple[str, str]]
    schema: ClassVar[Schema]
    spec: ClassVar[PartitionSpec]
    key: ClassVar[tuple[str, ...]]  # a target row's identity (the sort order of comparisons)
    # the target's time column (a date or a timestamptz) that a backfill from a day replaces
    time_column: ClassVar[str]
    sql: ClassVar[str]  # over a relation named ``source``: the rows the scan read
    columns: ClassVar[tuple[str, ...]] = ()  # the source columns the SQL uses; empty: all

    def source_filter(self) -> BooleanExpression:
        """The source rows the job reads at all (pushed down into every scan)."""
        return AlwaysTrue()

    def transform(self, rows: pa.Table) -> pa.Table:
        """:attr:`sql` over ``rows``, in the target's Arrow schema."""
        out = run_sql(self.sql, source=rows)
        return out.select([f.name for f in self.schema.fields]).cast(self.schema.as_arrow())

    def read(self, source: Table, row_filter: BooleanExpression, snapshot_id: int | None) -> pa.Table:
        """The job's columns of the source rows matching its own filter and ``row_filter``, as of
        ``snapshot_id`` (pushed down: partitions and file bounds prune what is read)."""
        return scans.read(source, And(self.source_filter(), row_filter), snapshot_id, self.columns)

    def full(self, source: Table, snapshot_id: int) -> pa.Table:
        """The whole target from the source as of ``snapshot_id``, in one table (for comparisons;
        the runner streams :meth:`full_chunks`)."""
        return pa.concat_tables([self.schema.as_arrow().empty_table(), *self.full_chunks(source, snapshot_id)])

    def full_chunks(self, source: Table, snapshot_id: int) -> Iterator[pa.Table]:
        """The whole target from the source as of ``snapshot_id``, in chunks of at most
        :data:`FULL_CHUNK_ROWS`: the source streams through DuckDB a file at a time, so memory
        holds the query's state (its groups), not the source."""
        scan = source.scan(
            row_filter=self.source_filter(), selected_fields=self.columns or ("*",), snapshot_id=snapshot_id
        )
        names = [f.name for f in self.schema.fields]
        target = self.schema.as_arrow()
        for chunk in stream_sql(self.sql, FULL_CHUNK_ROWS, source=scan.to_arrow_batch_reader()):
            yield chunk.select(names).cast(target)

    def since(self, source: Table, snapshot_id: int, day: dt.date) -> Output:
        """The target rows from ``day`` on, recomputed from the source as of ``snapshot_id``, and
        the filter of the rows they replace (a backfill). Every job here keys its rows by the
        event's own time, so the rows from ``day`` on are those of the events from ``day`` on."""
        start = day_start_us(day)
        rows = self.transform(self.read(source, at_least("occurred_at", instant(start)), snapshot_id))
        bound = day.isoformat() if isinstance(self.schema.find_type(self.time_column), DateType) else instant(start)
        return Output(rows, at_least(self.time_column, bound))

    @abstractmethod
    def incremental(self, source: Table, target: Table, changes: ChangeSet) -> Output:
        """The target change that ``changes`` (not full, not a no-op) makes; ``target`` as the
        plan loaded it (the commit is conditional on that snapshot)."""


def target_table(catalog: Catalog, job: Job) -> Table:
    """``job``'s target table, created when missing (a racing creator's table is loaded)."""
    try:
        return catalog.load_table(job.target)
    except NoSuchTableError:
        pass
    if not catalog.namespace_exists(NAMESPACE):
        try:
            catalog.create_namespace(NAMESPACE)
        except Exception:  # another process created it meanwhile
            if not catalog.namespace_exists(NAMESPACE):
                raise
    try:
        return catalog.create_table(
            job.target, schema=job.schema, partition_spec=job.spec, properties=JOB_TABLE_PROPERTIES
        )
    except Exception:  # TableAlreadyExistsError or the catalog database's unique-key error
        if not catalog.table_exists(job.target):
            raise
        return catalog.load_table(job.target)
