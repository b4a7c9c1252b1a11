"""Snapshot expiry and orphan-file removal that never take what a reader still needs
(docs/analytics.md, "Maintenance").

A snapshot older than the retention is expired unless it is *needed*:

- the table's current snapshot (and every branch or tag head: pyiceberg keeps those);
- each job's processed source snapshot (:func:`darkroom.analytics.state.processed_snapshot` of the
  jobs reading the table), **and every snapshot after it**: change capture walks the parent links
  from the head back to it, so a gap would turn the job's next run into a full recompute;
- the newest snapshot carrying ingest's stream position, and the newest carrying a job's state
  (:mod:`darkroom.analytics.position`, :mod:`darkroom.analytics.state`): both are found by walking
  back, and compaction carries only the position forward.

A job whose processed snapshot was expired anyway (by another tool, or before this existed) is
still correct: capture finds it missing and the job recomputes in full.

Orphan files are the table's files that no retained snapshot references (data files, manifests,
manifest lists) and no retained metadata file is: the files of expired snapshots, rewritten small
files, and what a crashed writer left. Only those older than a grace period are deleted, because a
writer that has not committed yet has written its files already.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pyarrow.fs import FileSelector, FileType
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from darkroom.analytics.state import SOURCE_SNAPSHOT_KEY, processed_snapshot

__all__ = ["ExpiryPolicy", "Expired", "Reader", "expire", "needed_snapshots", "remove_orphans"]

log = logging.getLogger(__name__)

_POSITION_PREFIX = "darkroom.stream."
_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """Snapshots older than ``retention_s`` are expired unless needed; unreferenced files older
    than ``orphan_grace_s`` are deleted (``remove_orphans`` False: kept)."""

    retention_s: float = 86_400.0
    orphan_grace_s: float = 3600.0
    remove_orphans: bool = True

    def __post_init__(self) -> None:
        if self.retention_s < 0 or self.orphan_grace_s < 0:
            raise ValueError(f"retention_s={self.retention_s!r}, orphan_grace_s={self.orphan_grace_s!r}: must be >= 0")


@dataclass(frozen=True, slots=True)
class Reader:
    """A job reading ``source`` whose state is kept in ``target`` (both table identifiers)."""

    name: str
    source: tuple[str, str]
    target: tuple[str, str]


@dataclass(frozen=True, slots=True)
class Expired:
    """What :func:`expire` did to one table."""

    table: str
    expired: int  # snapshots removed
    retained: int  # snapshots left
    needed: dict[int, str]  # snapshot id → why it is kept whatever its age
    orphans_removed: int
    orphan_bytes: int


def needed_snapshots(catalog: Catalog, table: Table, readers: Sequence[Reader]) -> dict[int, str]:
    """The snapshots of ``table`` (as loaded) that :func:`expire` keeps whatever their age, with
    why: see the module."""
    current = table.current_snapshot()
    if current is None:
        return {}
    needed = {current.snapshot_id: "current"}
    name = table.name()
    for reader in readers:
        if tuple(reader.source) != tuple(name):
            continue
        try:
            processed = processed_snapshot(catalog.load_table(reader.target))
        except NoSuchTableError:
            continue
        if processed is not None and table.snapshot_by_id(processed) is not None:
            needed.setdefault(processed, f"processed by {reader.name}")
    ancestry = list(_ancestors(table))
    found_position = found_state = False
    for s in ancestry:
        props = s.summary.additional_properties if s.summary else {}
        if not found_position and any(k.startswith(_POSITION_PREFIX) for k in props):
            needed.setdefault(s.snapshot_id, "stream position")
            found_position = True
        if not found_state and SOURCE_SNAPSHOT_KEY in props:
            needed.setdefault(s.snapshot_id, "job state")
            found_state = True
    # Keep the whole line back to the oldest needed ancestor: capture, the position and the state
    # are all found by walking parent links, which a gap would cut.
    oldest = max(i for i, s in enumerate(ancestry) if s.snapshot_id in needed)
    for s in ancestry[: oldest + 1]:
        needed.setdefault(s.snapshot_id, "between the current and a needed snapshot")
    return needed


def expire(catalog: Catalog, table: Table, readers: Sequence[Reader], policy: ExpiryPolicy) -> Expired:
    """Expire ``table``'s snapshots older than the retention that are not needed, then (if the
    policy says so) delete its orphan files."""
    expired: list[int] = []
    needed: dict[int, str] = {}
    for _ in range(_MAX_ATTEMPTS):
        table.refresh()
        needed = needed_snapshots(catalog, table, readers)
        cutoff_ms = int((time.time() - policy.retention_s) * 1000)
        old = [s.snapshot_id for s in table.snapshots() if s.timestamp_ms < cutoff_ms and s.snapshot_id not in needed]
        if not old:
            break
        try:
            table.maintenance.expire_snapshots().by_ids(old).commit()
        except CommitFailedException as exc:  # the catalog database's swap lost to another commit
            log.info("snapshot expiry of %s lost a commit race (%s); trying again", _name(table), exc)
            continue
        expired = old
        break
    table.refresh()
    removed, freed = (0, 0)
    if policy.remove_orphans:
        removed, freed = remove_orphans(table, older_than_s=policy.orphan_grace_s)
    return Expired(_name(table), len(expired), len(table.snapshots()), needed, removed, freed)


def remove_orphans(table: Table, *, older_than_s: float) -> tuple[int, int]:
    """Delete the files under ``table``'s location that nothing retained references and that were
    last modified more than ``older_than_s`` ago; answers (files, bytes) deleted."""
    referenced = {_path(p) for p in _referenced(table)}
    scheme, netloc, root = PyArrowFileIO.parse_location(table.location())
    io = table.io
    fs = io.fs_by_scheme(scheme, netloc) if isinstance(io, PyArrowFileIO) else None
    if fs is None:  # another FileIO: no listing here; say so rather than guess
        log.warning("orphan files of %s not removed: its FileIO %s cannot list", _name(table), type(io).__name__)
        return 0, 0
    cutoff_ns = int((time.time() - older_than_s) * 1e9)
    removed = freed = 0
    for info in fs.get_file_info(FileSelector(root, recursive=True, allow_not_found=True)):
        if info.type != FileType.File or info.path in referenced:
            continue
        if info.mtime_ns is None or info.mtime_ns >= cutoff_ns:
            continue
        fs.delete_file(info.path)
        removed += 1
        freed += info.size or 0
    return removed, freed


def _referenced(table: Table) -> Iterable[str]:
    """Every file a retained snapshot or metadata file of ``table`` (as loaded) refers to."""
    if table.metadata_location:
        yield table.metadata_location
    for log_entry in table.metadata.metadata_log:
        yield log_entry.metadata_file
    for stats in table.metadata.statistics:
        yield stats.statistics_path
    seen: set[str] = set()
    for snapshot in table.snapshots():
        yield snapshot.manifest_list
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            yield manifest.manifest_path
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                yield entry.data_file.file_path


def _ancestors(table: Table) -> Iterator[Snapshot]:
    snapshot = table.current_snapshot()
    while snapshot is not None:
        yield snapshot
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None


def _path(location: str) -> str:
    return PyArrowFileIO.parse_location(location)[2]


def _name(table: Table) -> str:
    return ".".join(table.name())
