"""A job's state: the source snapshot its target reflects, kept in the target's own commits.

Every commit a job makes to its target carries, in its snapshot summary,
``darkroom.job.source-snapshot = <id>`` (and ``darkroom.job.name``). The state therefore moves
with the output in one atomic catalog commit: there is no second write that a crash could separate
from the first. A run that dies before its commit leaves the state where the last commit put it,
so the next run sees the same change again (no skip); a run that committed is seen by the next
(no double count). :func:`processed_snapshot` reads it back, stepping over snapshots written by
anything else (maintenance).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.table import Table

__all__ = ["JOB_NAME_KEY", "SOURCE_SNAPSHOT_KEY", "JobState", "job_state", "processed_snapshot", "state_properties"]

SOURCE_SNAPSHOT_KEY = "darkroom.job.source-snapshot"
JOB_NAME_KEY = "darkroom.job.name"


@dataclass(frozen=True, slots=True)
class JobState:
    """What a target's newest job commit recorded."""

    source_snapshot_id: int
    target_snapshot_id: int
    committed_at_ms: int


def state_properties(job: str, source_snapshot_id: int) -> dict[str, str]:
    """The snapshot summary properties of a commit of ``job`` covering the source up to
    ``source_snapshot_id``."""
    return {SOURCE_SNAPSHOT_KEY: str(source_snapshot_id), JOB_NAME_KEY: job}


def job_state(target: Table) -> JobState | None:
    """The newest job commit's state in ``target`` (as loaded); None before the first."""
    snapshot = target.current_snapshot()
    while snapshot is not None:
        value = snapshot.summary.additional_properties.get(SOURCE_SNAPSHOT_KEY) if snapshot.summary else None
        if value is not None:
            return JobState(int(value), snapshot.snapshot_id, snapshot.timestamp_ms)
        parent = snapshot.parent_snapshot_id
        snapshot = target.snapshot_by_id(parent) if parent is not None else None
    return None


def processed_snapshot(target: Table) -> int | None:
    """The source snapshot ``target`` reflects; None: the job has never committed."""
    state = job_state(target)
    return state.source_snapshot_id if state else None
