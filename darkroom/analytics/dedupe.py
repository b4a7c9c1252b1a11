"""Which event ids ``darkroom.events`` holds already, answered mostly from metadata.

The relay publishes at least once: a row whose publish-once marker expired before the relay
marked it is published again, under a new stream entry id but with the same ``event_id``. Ingest
drops such a copy by asking :meth:`EventIdIndex.seen` before each commit.

Event ids are ULIDs, so their string order is time order and each data file's ``event_id``
lower/upper bounds (kept in full in the manifests: :mod:`darkroom.analytics.tables`) span about
the time its batch covered. The index keeps those bounds per live data file; an id can only be in a
file whose bounds contain it, and only such files have their ``event_id`` column read (a few
recently read ones are cached). In steady state a batch's ids are newer than every file's upper
bound but the last batch's, so a lookup is a bisection per file and at most one small read. After
an append the index adds only the files of the new snapshots; after a compaction (a ``replace``
snapshot) it drops the files that snapshot removed and adds the ones it wrote; any other kind of
snapshot (a delete, an overwrite) makes it read every manifest again.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow.parquet as pq
from pyiceberg.manifest import DataFile, DataFileContent, ManifestContent, ManifestEntryStatus
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, Snapshot

__all__ = ["EventIdIndex"]

_EVENT_ID_FIELD = 1  # darkroom.events' event_id (tables.EVENTS_SCHEMA)


@dataclass(frozen=True, slots=True)
class _File:
    path: str
    lower: str | None  # None: unknown, the file is read whenever asked
    upper: str | None


class EventIdIndex:
    """The ``event_id`` bounds of every live data file of ``darkroom.events``."""

    def __init__(self, *, cached_files: int = 4) -> None:
        self._files: dict[str, _File] = {}
        self._snapshot_id: int | None = None
        self._cache: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._cached_files = cached_files
        self.files_read = 0  # data files whose event_id column was read (for tests and metrics)

    def __len__(self) -> int:
        return len(self._files)

    def sync(self, table: Table) -> None:
        """Bring the index to ``table``'s current snapshot (as loaded)."""
        current = table.current_snapshot()
        if current is None:
            self._files.clear()
            self._snapshot_id = None
            return
        if current.snapshot_id == self._snapshot_id:
            return
        steps = self._steps_since(table, current)
        if steps is None:
            self._files = {f.path: f for f in _files_of(table, current)}
        else:
            for snapshot in steps:
                added, removed = _changed_files(table, snapshot)
                for path in removed:
                    self._files.pop(path, None)
                    self._cache.pop(path, None)
                self._files.update((f.path, f) for f in added)
        self._snapshot_id = current.snapshot_id

    def seen(self, table: Table, event_ids: Sequence[str]) -> set[str]:
        """Those of ``event_ids`` some live data file of ``table`` holds (call :meth:`sync` first)."""
        ids = sorted(event_ids)
        found: set[str] = set()
        if not ids:
            return found
        for f in self._files.values():
            lo = 0 if f.lower is None else bisect.bisect_left(ids, f.lower)
            hi = len(ids) if f.upper is None else bisect.bisect_right(ids, f.upper)
            if lo < hi:
                held = self._ids_of(table, f.path)
                found.update(i for i in ids[lo:hi] if i in held)
        return found

    def _steps_since(self, table: Table, current: Snapshot) -> list[Snapshot] | None:
        """The snapshots after the indexed one up to ``current``, oldest first, when all are appends
        or replaces (compactions); None otherwise."""
        if self._snapshot_id is None:
            return None
        out: list[Snapshot] = []
        snapshot: Snapshot | None = current
        while snapshot is not None and snapshot.snapshot_id != self._snapshot_id:
            if snapshot.summary is None or snapshot.summary.operation not in (Operation.APPEND, Operation.REPLACE):
                return None
            out.append(snapshot)
            parent = snapshot.parent_snapshot_id
            snapshot = table.snapshot_by_id(parent) if parent is not None else None
        if snapshot is None:
            return None
        out.reverse()  # a replace removes files an earlier append added
        return out

    def _ids_of(self, table: Table, path: str) -> frozenset[str]:
        held = self._cache.get(path)
        if held is not None:
            self._cache.move_to_end(path)
            return held
        with table.io.new_input(path).open() as stream:
            column = pq.ParquetFile(stream).read(columns=["event_id"]).column(0)
        held = frozenset(column.to_pylist())
        self.files_read += 1
        self._cache[path] = held
        if len(self._cache) > self._cached_files:
            self._cache.popitem(last=False)
        return held


def _files_of(table: Table, snapshot: Snapshot) -> Iterable[_File]:
    """The live data files of ``snapshot``."""
    for manifest in snapshot.manifests(table.io):
        if manifest.content != ManifestContent.DATA:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.data_file.content == DataFileContent.DATA:
                yield _file(entry.data_file)


def _changed_files(table: Table, snapshot: Snapshot) -> tuple[list[_File], list[str]]:
    """The data files ``snapshot`` added, and the paths of those it removed (a replace's)."""
    added: list[_File] = []
    removed: list[str] = []
    for manifest in snapshot.manifests(table.io):
        if manifest.content != ManifestContent.DATA or manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
            if entry.data_file.content != DataFileContent.DATA:
                continue
            if entry.status == ManifestEntryStatus.ADDED:
                added.append(_file(entry.data_file))
            elif entry.status == ManifestEntryStatus.DELETED:
                removed.append(entry.data_file.file_path)
    return added, removed


def _file(data_file: DataFile) -> _File:
    return _File(
        data_file.file_path,
        _bound(data_file.lower_bounds, _EVENT_ID_FIELD),
        _bound(data_file.upper_bounds, _EVENT_ID_FIELD),
    )


def _bound(bounds: dict[int, bytes] | None, field_id: int) -> str | None:
    raw = (bounds or {}).get(field_id)
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:  # a truncated bound cut inside a character: unknown
        return None
