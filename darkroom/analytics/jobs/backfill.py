"""Backfill: recompute a job's target from a day on, then the jobs downstream of it.

1. **Catch up**: the job and its downstream jobs run as usual (:func:`runner.run`), so each one's
   state is its source's head.
2. **The job**: its rows from ``since`` on are recomputed from its source as of the snapshot its
   state records (:meth:`Job.since`) and replace the target's rows from ``since`` on, in one
   commit whose snapshots carry the same state (nothing new was read) and
   ``darkroom.job.backfill-since``.
3. **Downstream**, in dependency order: a job whose source has gained only backfill commits since
   its state (checked on the snapshot summaries) is backfilled the same way as of the source's
   head, and its state moves there. Any other commit in between (another process ran the upstream
   job meanwhile) makes it run as usual instead, which is then a full recompute: always correct.

Each commit is conditional on the target's head as planned (pyiceberg's assertion, no retry); a
lost race plans again, as :func:`runner.run` does.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from dataclasses import dataclass

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.table import Table

from darkroom.analytics.errors import InvalidBackfillDate, JobConflict
from darkroom.analytics.jobs.dag import downstream
from darkroom.analytics.jobs.job import Job, target_table
from darkroom.analytics.jobs.runner import Run, run
from darkroom.analytics.state import processed_snapshot, state_properties

__all__ = ["BACKFILL_SINCE_KEY", "Backfilled", "backfill", "backfill_one", "parse_since"]

log = logging.getLogger(__name__)
BACKFILL_SINCE_KEY = "darkroom.job.backfill-since"
_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Backfilled:
    """What a backfill did to one job's target."""

    job: str
    since: dt.date
    source_snapshot_id: int | None  # the source snapshot the target now reflects
    rows_written: int
    how: str  # "backfilled", "nothing to backfill" (no source yet) or "ran" (a normal run instead)
    elapsed_s: float = 0.0


def parse_since(value: str) -> dt.date:
    """``YYYY-MM-DD`` as a date; :class:`InvalidBackfillDate` naming ``value`` otherwise."""
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else _refuse(value)
    except ValueError:
        return _refuse(value)


def _refuse(value: str) -> dt.date:
    raise InvalidBackfillDate(f"--since {value!r} is not a date (YYYY-MM-DD, for example 2026-12-01)")


def backfill(job: Job, jobs: tuple[Job, ...], catalog: Catalog, since: dt.date) -> tuple[list[Run], list[Backfilled]]:
    """Backfill ``job`` from ``since`` and propagate to its downstream jobs: the catch-up runs,
    then one :class:`Backfilled` per job (``job`` first)."""
    later = downstream(job, jobs)
    caught_up = [run(j, catalog) for j in (job, *later)]
    done = [backfill_one(job, catalog, since, upstream=False)]
    done += [backfill_one(j, catalog, since, upstream=True) for j in later]
    return caught_up, done


def backfill_one(job: Job, catalog: Catalog, since: dt.date, *, upstream: bool) -> Backfilled:
    """Step 2 (``upstream=False``: the job asked for) or 3 (a job downstream of it) for one job,
    after its catch-up run; the backfill workflow runs one such step per job, in order."""
    started = time.perf_counter()
    for _ in range(_MAX_ATTEMPTS):
        target = target_table(catalog, job)
        processed = processed_snapshot(target)
        try:
            source = catalog.load_table(job.source)
        except NoSuchTableError:
            source = None
        head = source.current_snapshot() if source is not None else None
        if source is None or head is None or processed is None:
            return Backfilled(job.name, since, processed, 0, "nothing to backfill")
        if upstream:  # the upstream backfill moved the source: read it at its head if that is all
            if not _only_backfills(source, head.snapshot_id, processed):
                r = run(job, catalog)
                return Backfilled(job.name, since, r.source_snapshot_id, r.rows_written, "ran", r.elapsed_s)
            processed = head.snapshot_id
        output = job.since(source, processed, since)
        properties = state_properties(job.name, processed) | {BACKFILL_SINCE_KEY: since.isoformat()}
        rows = output.rows.cast(target.schema().as_arrow())
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                with target.transaction() as tx:
                    tx.overwrite(rows, overwrite_filter=output.replaces, snapshot_properties=properties)
        except CommitFailedException as exc:
            log.info("backfill of %s lost a commit race (%s); planning again", job.name, exc)
            continue
        return Backfilled(job.name, since, processed, rows.num_rows, "backfilled", time.perf_counter() - started)
    raise JobConflict(f"backfill of {job.name!r} lost {_MAX_ATTEMPTS} commit races in a row on {'.'.join(job.target)}")


def _only_backfills(source: Table, head: int, processed: int) -> bool:
    """Whether every snapshot after ``processed`` up to ``head`` is a backfill's commit."""
    snapshot = source.snapshot_by_id(head)
    while snapshot is not None and snapshot.snapshot_id != processed:
        if snapshot.summary is None or BACKFILL_SINCE_KEY not in snapshot.summary.additional_properties:
            return False
        parent = snapshot.parent_snapshot_id
        snapshot = source.snapshot_by_id(parent) if parent is not None else None
    return snapshot is not None  # None: ``processed`` is not an ancestor (expired or rolled back)
