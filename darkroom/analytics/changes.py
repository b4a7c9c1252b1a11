"""Change capture: what a job has not processed yet, from Iceberg metadata alone (the IPS model,
docs/analytics.md "Incremental jobs").

:func:`capture` walks the source table's snapshots back from the current one to the snapshot the
job processed last and collects the data files the *append* snapshots in between added: references
to immutable files, nothing is copied. :meth:`ChangeSet.ranges` gives each file's lower/upper
bound of a column, read from the manifest entries, so a job learns the time range a change touches
without reading data; :func:`read_changes` reads the files' rows when a job needs them.

Three cases end in a full recompute instead (:attr:`ChangeSet.full_reason`): the first run; a
processed snapshot that is no longer an ancestor of the current one (expired, or the table was
rolled back); and a snapshot between that deletes or overwrites rows (the source is no longer
append-only, so added files do not describe the change). A ``replace`` snapshot (compaction)
rewrites rows the job has seen already and is stepped over.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.conversions import from_bytes
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile, DataFileContent, ManifestContent, ManifestEntryStatus
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Operation, Snapshot
from pyiceberg.types import PrimitiveType

from darkroom.analytics.errors import UnknownColumn

__all__ = ["ChangeSet", "Range", "capture", "merge_ranges", "read_changes"]


@dataclass(frozen=True, slots=True, order=True)
class Range:
    """A closed range of a column's values (for timestamps: microseconds since the epoch)."""

    lower: int
    upper: int


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The source's change since ``from_snapshot_id`` (exclusive) up to ``to_snapshot_id``
    (inclusive): the data files added in between, or a reason to recompute everything."""

    from_snapshot_id: int | None
    to_snapshot_id: int | None  # None: the source has no snapshot yet
    files: tuple[DataFile, ...] = ()
    full_reason: str | None = None  # set: recompute from the whole of to_snapshot_id

    @property
    def full(self) -> bool:
        return self.full_reason is not None

    @property
    def noop(self) -> bool:
        """Nothing new: the job is at the source's current snapshot (or the source is empty)."""
        return self.to_snapshot_id is None or self.to_snapshot_id == self.from_snapshot_id

    @property
    def records(self) -> int:
        return sum(f.record_count for f in self.files)

    def ranges(self, table: Table, column: str) -> list[Range]:
        """Each added file's [lower, upper] bound of ``column`` (an integer-backed column: a
        timestamp, date or number), from the manifests; files without bounds are left out, which
        only a file with no non-null value of the column has."""
        try:
            field = table.schema().find_field(column)
        except ValueError:
            raise UnknownColumn(f"column {column!r} is not in table {'.'.join(table.name())}") from None
        kind = field.field_type
        if not isinstance(kind, PrimitiveType):
            raise UnknownColumn(f"column {column!r} of {'.'.join(table.name())} is a {kind}, not a primitive")
        out = []
        for f in self.files:
            low = (f.lower_bounds or {}).get(field.field_id)
            high = (f.upper_bounds or {}).get(field.field_id)
            if low is not None and high is not None:
                out.append(Range(int(from_bytes(kind, low)), int(from_bytes(kind, high))))
        return out


def capture(table: Table, processed: int | None) -> ChangeSet:
    """The change of ``table`` (as loaded) since the snapshot ``processed`` (None: never run)."""
    current = table.current_snapshot()
    if current is None:
        return ChangeSet(processed, None)
    if processed == current.snapshot_id:
        return ChangeSet(processed, processed)
    if processed is None:
        return ChangeSet(None, current.snapshot_id, full_reason="first run")
    files: list[DataFile] = []
    for snapshot in _back_to(table, current, processed):
        if snapshot is None:
            reason = f"snapshot {processed} is no longer in the history of {table.name()} (expired)"
            return ChangeSet(processed, current.snapshot_id, full_reason=reason)
        operation = snapshot.summary.operation if snapshot.summary else None
        if operation == Operation.APPEND:
            files.extend(_added_files(table, snapshot))
        elif operation != Operation.REPLACE:  # rows deleted or overwritten: not an append-only change
            reason = f"snapshot {snapshot.snapshot_id} is a {operation} (the source is not append-only)"
            return ChangeSet(processed, current.snapshot_id, full_reason=reason)
    files.reverse()  # commit order
    return ChangeSet(processed, current.snapshot_id, tuple(files))


def read_changes(
    table: Table,
    changes: ChangeSet,
    *,
    selected_fields: Sequence[str] = (),
    row_filter: BooleanExpression | None = None,
) -> pa.Table:
    """The rows of the change set's files, projected on the table's current schema (schema
    evolution applies, as in any scan); ``selected_fields`` empty: every column."""
    schema = table.schema().select(*selected_fields) if selected_fields else table.schema()
    scan = ArrowScan(table.metadata, table.io, schema, row_filter if row_filter is not None else AlwaysTrue())
    return scan.to_table([FileScanTask(f) for f in changes.files])


def merge_ranges(ranges: Sequence[Range], *, widen_upper: int = 0, gap: int = 1) -> list[Range]:
    """``ranges`` with ``widen_upper`` added to each upper bound, overlapping or adjacent ones
    (closer than ``gap``) joined: the union a job recomputes, in order."""
    out: list[Range] = []
    for r in sorted(ranges):
        upper = r.upper + widen_upper
        if out and r.lower <= out[-1].upper + gap:
            if upper > out[-1].upper:
                out[-1] = Range(out[-1].lower, upper)
        else:
            out.append(Range(r.lower, upper))
    return out


def _back_to(table: Table, current: Snapshot, stop: int) -> Iterator[Snapshot | None]:
    """The snapshots from ``current`` back to ``stop`` (exclusive); None last if ``stop`` is not
    an ancestor (expired, or on another line of history)."""
    snapshot: Snapshot | None = current
    while snapshot is not None and snapshot.snapshot_id != stop:
        yield snapshot
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    if snapshot is None:
        yield None


def _added_files(table: Table, snapshot: Snapshot) -> Iterator[DataFile]:
    """The data files ``snapshot`` added (its own manifests' ADDED entries)."""
    for manifest in snapshot.manifests(table.io):
        if manifest.content != ManifestContent.DATA or manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.status == ManifestEntryStatus.ADDED and entry.data_file.content == DataFileContent.DATA:
                yield entry.data_file
