"""Where each job is: the source snapshot its target reflects, and how far behind the source's
head that is (snapshots, rows, seconds), from metadata alone."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from darkroom.analytics.jobs.job import Job
from darkroom.analytics.state import job_state

__all__ = ["JobStatus", "job_status"]


@dataclass(frozen=True, slots=True)
class JobStatus:
    job: str
    source: str
    target: str
    processed_snapshot_id: int | None  # None: never committed
    source_snapshot_id: int | None  # the source's head; None: no source data yet
    behind_snapshots: int | None  # None: the processed snapshot is not in the source's history
    behind_records: int | None  # rows the source's appends since then added
    lag_s: float | None  # the head's commit time minus the processed snapshot's
    committed_at_ms: int | None  # the job's last commit

    def to_json(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}


def job_status(catalog: Catalog, job: Job) -> JobStatus:
    """``job``'s status (loads its tables; creates nothing)."""
    state = None
    with contextlib.suppress(NoSuchTableError):
        state = job_state(catalog.load_table(job.target))
    processed = state.source_snapshot_id if state else None
    head = behind = records = lag = None
    try:
        source: Table | None = catalog.load_table(job.source)
    except NoSuchTableError:
        source = None
    current = source.current_snapshot() if source is not None else None
    if source is not None and current is not None:
        head = current.snapshot_id
        behind, records = 0, 0
        snapshot: Snapshot | None = current
        while snapshot is not None and snapshot.snapshot_id != processed:
            behind += 1
            if snapshot.summary is not None and snapshot.summary.operation.value == "append":
                records += int(snapshot.summary.get("added-records") or 0)
            parent = snapshot.parent_snapshot_id
            snapshot = source.snapshot_by_id(parent) if parent is not None else None
        done = source.snapshot_by_id(processed) if processed is not None else None
        if snapshot is None and processed is not None:
            behind = records = None  # expired: the next run recomputes everything
        lag = (current.timestamp_ms - done.timestamp_ms) / 1000 if done is not None else None
    return JobStatus(
        job.name,
        ".".join(job.source),
        ".".join(job.target),
        processed,
        head,
        behind,
        records,
        lag,
        state.committed_at_ms if state else None,
    )
