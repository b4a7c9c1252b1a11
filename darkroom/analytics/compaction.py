"""Compaction: a partition's many small data files (one per micro-batch or job run) rewritten into
a few large ones, in one Iceberg ``replace`` commit (docs/analytics.md, "Maintenance").

A ``replace`` snapshot says what Iceberg's ``RewriteFiles`` says: the same rows, in other files.
Every reader downstream relies on that:

- change capture (:mod:`darkroom.analytics.changes`) steps over it, as Iceberg's incremental
  append scan does, so a job neither reads the rewritten rows again nor recomputes everything;
- ingest's stream position (:mod:`darkroom.analytics.position`) is carried forward into the new
  snapshot's summary, so it is found there even once older snapshots are expired;
- the dedupe index (:mod:`darkroom.analytics.dedupe`) swaps the removed files for the added ones.

pyiceberg 0.12 has no rewrite API: :class:`_ReplaceFiles` is its overwrite producer committing
under the ``replace`` operation. The commit is conditional on the snapshot the files were read
from (the tables turn pyiceberg's own retry off). When another writer (ingest, a job) commits
first, the files already written are committed again on the new head if every file they replace
is still live there (appends remove nothing, so that is the usual case); otherwise the rewrite is
abandoned and its files deleted. Rows are never lost or doubled: the catalog takes either the
whole replace or none of it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Operation, Snapshot, Summary
from pyiceberg.table.update.snapshot import _OverwriteFiles
from pyiceberg.typedef import EMPTY_DICT

from darkroom.analytics.errors import CompactionAborted

__all__ = [
    "COMPACTED_PARTITION_KEY",
    "Candidate",
    "CompactionPolicy",
    "Compacted",
    "carried_properties",
    "compact",
    "plan_partitions",
]

log = logging.getLogger(__name__)

COMPACTED_PARTITION_KEY = "darkroom.compaction.partition"
_CARRIED_PREFIX = "darkroom.stream."  # ingest's position: position.position_key
_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    """Which partitions are compacted: those with at least ``min_files`` data files under
    ``small_file_bytes``, none added in the last ``quiet_s`` (a partition still being written is
    left to settle; late events reopen an old day and it is compacted again later)."""

    small_file_bytes: int = 32 * 1024 * 1024
    min_files: int = 10
    quiet_s: float = 3600.0
    max_partitions: int = 100  # per table and run: bounds one run's time

    def __post_init__(self) -> None:
        if self.min_files < 2:
            raise ValueError(f"min_files={self.min_files!r}: compacting fewer than 2 files gains nothing")


@dataclass(frozen=True, slots=True)
class Compacted:
    """One partition's rewrite."""

    table: str
    partition: str
    files_before: int
    files_after: int
    rows: int
    bytes_before: int
    bytes_after: int
    snapshot_id: int | None  # None: abandoned (the files were no longer live)
    attempts: int
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """A partition to compact and its small files."""

    partition: str
    files: tuple[DataFile, ...] = field(repr=False)


def plan_partitions(table: Table, policy: CompactionPolicy, *, now_ms: int | None = None) -> list[Candidate]:
    """The partitions of ``table`` (as loaded) that ``policy`` compacts, with their small files;
    none when the table has delete files (a rewrite would have to apply them)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    quiet_from = now_ms - int(policy.quiet_s * 1000)
    spec = table.spec()
    schema = table.schema()
    groups: dict[tuple[object, ...], list[DataFile]] = defaultdict(list)
    newest: dict[tuple[object, ...], int] = {}
    for added_by, f in _live_files(table, snapshot):
        if f.content != DataFileContent.DATA:
            return []  # merge-on-read deletes: not written here, and a plain rewrite would undo them
        if f.spec_id != spec.spec_id or f.file_size_in_bytes >= policy.small_file_bytes:
            continue
        key = tuple(f.partition[i] for i in range(len(f.partition)))
        groups[key].append(f)
        added = table.snapshot_by_id(added_by) if added_by is not None else None
        newest[key] = max(newest.get(key, 0), added.timestamp_ms if added else 0)
    out = [
        Candidate(spec.partition_to_path(files[0].partition, schema) if spec.fields else "", tuple(files))
        for key, files in sorted(groups.items(), key=lambda kv: str(kv[0]))
        if len(files) >= policy.min_files and newest[key] <= quiet_from
    ]
    return out[: policy.max_partitions]


def compact(table: Table, policy: CompactionPolicy) -> list[Compacted]:
    """Compact ``table``'s partitions that ``policy`` selects, one ``replace`` commit each."""
    table.refresh()
    done = []
    for group in plan_partitions(table, policy):
        try:
            done.append(_rewrite(table, group))
        except CompactionAborted as exc:
            log.info("compaction of %s %s abandoned: %s", _name(table), group.partition, exc)
    return done


def carried_properties(table: Table) -> dict[str, str]:
    """The stream position properties of the newest snapshot of ``table`` (as loaded) that has any:
    what a snapshot written by maintenance carries forward."""
    snapshot = table.current_snapshot()
    while snapshot is not None:
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        carried = {k: v for k, v in props.items() if k.startswith(_CARRIED_PREFIX)}
        if carried:
            return carried
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return {}


# -- inside ------------------------------------------------------------------------------------------
class _ReplaceFiles(_OverwriteFiles):
    """pyiceberg's overwrite producer, committed as a ``replace``: files removed and added, rows
    unchanged. (0.12's summary totals know no ``replace``: they are totalled as an overwrite,
    which counts files and rows the same way.)"""

    def _summary(self, snapshot_properties: dict[str, str] = EMPTY_DICT) -> Summary:
        self._operation = Operation.OVERWRITE
        try:
            summary = super()._summary(snapshot_properties)
        finally:
            self._operation = Operation.REPLACE
        return Summary(Operation.REPLACE, **summary.additional_properties)


def _rewrite(table: Table, group: Candidate) -> Compacted:
    started = time.perf_counter()
    old = list(group.files)
    rows = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table([FileScanTask(f) for f in old])
    expected = sum(f.record_count for f in old)
    if rows.num_rows != expected:  # a rewrite must keep every row: refuse rather than commit a loss
        raise CompactionAborted(f"read {rows.num_rows} rows from files holding {expected}")
    new = list(_dataframe_to_data_files(table.metadata, rows, table.io, write_uuid=uuid.uuid4()))
    try:
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                snapshot_id = _commit(table, old, new, group.partition)
            except ValidationException as exc:  # the table as loaded had moved on already
                raise CompactionAborted("another commit removed some of its files") from exc
            except CommitFailedException as exc:
                log.info("compaction of %s %s lost a commit race (%s)", _name(table), group.partition, exc)
                table.refresh()
                live = {f.file_path for _, f in _live_files(table, table.current_snapshot())}
                if not all(f.file_path in live for f in old):
                    raise CompactionAborted("another commit removed some of its files") from exc
                continue
            return Compacted(
                _name(table),
                group.partition,
                len(old),
                len(new),
                expected,
                sum(f.file_size_in_bytes for f in old),
                sum(f.file_size_in_bytes for f in new),
                snapshot_id,
                attempt,
                time.perf_counter() - started,
            )
        raise CompactionAborted(f"lost {_MAX_ATTEMPTS} commit races in a row")
    except BaseException:
        for f in new:  # never committed: nothing references them
            table.io.delete(f.file_path)
        raise


def _commit(table: Table, old: list[DataFile], new: list[DataFile], partition: str) -> int:
    """One ``replace`` commit of ``table`` (as loaded), conditional on its current snapshot."""
    properties = carried_properties(table) | {COMPACTED_PARTITION_KEY: partition}
    tx = table.transaction()
    producer = _ReplaceFiles(Operation.REPLACE, tx, table.io, snapshot_properties=properties)
    for f in old:
        producer.delete_data_file(f)
    for f in new:
        producer.append_data_file(f)
    producer.commit()
    tx.commit_transaction()
    head = table.current_snapshot()
    assert head is not None
    return head.snapshot_id


def _live_files(table: Table, snapshot: Snapshot | None) -> Iterator[tuple[int | None, DataFile]]:
    """(the snapshot that added it, file) for every live file of ``snapshot``."""
    if snapshot is None:
        return
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            yield entry.snapshot_id, entry.data_file


def _name(table: Table) -> str:
    return ".".join(table.name())
