"""Running a job: plan (read its state, capture the change), compute, commit (output and state in
one conditional commit). The three steps are public so a test can stop between them.

- **plan**: the target's recorded source snapshot (:mod:`darkroom.analytics.state`) and the
  source's change since it (:mod:`darkroom.analytics.changes`). Every read is pinned to the
  captured snapshot, so the state recorded is exactly what was read.
- **compute**: a full recompute (first run, expired history, a non-append source snapshot) or the
  job's incremental output; nothing when the source has not moved.
- **commit**: the output as one ``Transaction`` on the target (append, or overwrite with the
  output's filter: delete then append), every snapshot of it carrying the state. The catalog
  takes it only if the target is still at the snapshot the plan read the state from (pyiceberg
  asserts the branch head; its own retry is off). A run that lost that race plans again.

A run that dies anywhere before the commit has written nothing the next run reads: its change is
captured again. Files a failed commit wrote are orphans (no snapshot references them), removed by
orphan-file cleanup.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from enum import StrEnum

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import AlwaysFalse
from pyiceberg.table import Table

from darkroom.analytics.changes import ChangeSet, capture
from darkroom.analytics.errors import JobConflict
from darkroom.analytics.jobs.job import Job, Output, target_table
from darkroom.analytics.state import processed_snapshot, state_properties

__all__ = ["Mode", "Plan", "Run", "commit", "compute", "plan", "run"]

log = logging.getLogger(__name__)
_MAX_ATTEMPTS = 5


class Mode(StrEnum):
    NOOP = "no-op"
    INCREMENTAL = "incremental"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class Plan:
    job: Job
    source: Table | None  # None: the source table does not exist yet
    target: Table
    changes: ChangeSet

    @property
    def mode(self) -> Mode:
        if self.changes.noop:
            return Mode.NOOP
        return Mode.FULL if self.changes.full else Mode.INCREMENTAL


@dataclass(frozen=True, slots=True)
class Run:
    """What a run did."""

    job: str
    mode: Mode
    source_snapshot_id: int | None  # the source snapshot the target now reflects
    files: int = 0  # data files in the change set
    records: int = 0  # their rows
    rows_written: int = 0
    keys_recomputed: int | None = None  # the keyed merge's changed keys (None: not a keyed run)
    reason: str | None = None  # why a full recompute
    elapsed_s: float = 0.0


def plan(job: Job, catalog: Catalog) -> Plan:
    """``job``'s state and the source's change since it (no data read)."""
    target = target_table(catalog, job)
    processed = processed_snapshot(target)
    try:
        source = catalog.load_table(job.source)
    except NoSuchTableError:  # nothing ingested (or the upstream job never ran): nothing to do
        return Plan(job, None, target, ChangeSet(processed, None))
    return Plan(job, source, target, capture(source, processed))


def compute(p: Plan) -> Output | None:
    """The target change; None when there is nothing to do."""
    changes = p.changes
    if changes.noop or changes.to_snapshot_id is None or p.source is None:
        return None
    if changes.full:
        return Output.everything(p.job.full_chunks(p.source, changes.to_snapshot_id), p.job.schema.as_arrow())
    return p.job.incremental(p.source, p.target, changes)


def commit(p: Plan, output: Output) -> int:
    """``output`` and the state, one commit on the target (:class:`CommitFailedException` when
    another commit landed on the target since :func:`plan`); the rows written."""
    assert p.changes.to_snapshot_id is not None  # compute gives no output for an empty source
    properties = state_properties(p.job.name, p.changes.to_snapshot_id)
    schema = p.target.schema().as_arrow()  # the catalog numbered the fields afresh
    rows = output.rows.cast(schema)
    written: int = rows.num_rows
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        with p.target.transaction() as tx:
            if output.replaces == AlwaysFalse():
                tx.append(rows, snapshot_properties=properties)
            else:
                tx.overwrite(rows, overwrite_filter=output.replaces, snapshot_properties=properties)
            for chunk in output.more:  # a streamed full recompute: each chunk's files as it comes
                tx.append(chunk.cast(schema), snapshot_properties=properties)
                written += int(chunk.num_rows)
    return written


def run(job: Job, catalog: Catalog) -> Run:
    """Plan, compute and commit ``job``; a commit that lost a race is planned again."""
    started = time.perf_counter()
    for _ in range(_MAX_ATTEMPTS):
        p = plan(job, catalog)
        output = compute(p)
        written = 0
        if output is not None:
            try:
                written = commit(p, output)
            except CommitFailedException as exc:
                log.info("job %s lost a commit race (%s); planning again", job.name, exc)
                continue
        changes = p.changes
        return Run(
            job.name,
            p.mode,
            changes.to_snapshot_id,
            files=len(changes.files),
            records=changes.records,
            rows_written=written,
            keys_recomputed=output.keys if output is not None else None,
            reason=changes.full_reason,
            elapsed_s=time.perf_counter() - started,
        )
    raise JobConflict(f"job {job.name!r} lost {_MAX_ATTEMPTS} commit races in a row on {'.'.join(job.target)}")
