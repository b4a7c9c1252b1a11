"""The trigger loop: starts each job's workflow (``analytics.<job>``) when it has work.

Two triggers, checked every ``poll_s`` from metadata alone (no data file is read):

- **incremental**: the source's current snapshot differs from the one the job's target records
  (:mod:`darkroom.analytics.state`). A downstream job is triggered by its upstream's commit the
  same way, since that commit is its source's new snapshot.
- **interval**: ``interval_s`` (per job; 0: never) has passed since the loop last started the job.

A job that a pending or running workflow will run (its own, ``analytics.all``, a backfill of it or
of a job upstream of it) is left alone: the queue's exclusivity on ``job`` already keeps two runs
from overlapping, and this keeps runs from piling up behind a slow one. A source
snapshot the loop has already started a run for is not triggered again (a run that failed for
good waits for the next snapshot or the interval, instead of failing once every poll). The
snapshot rides on the run's operation as the label ``source_snapshot``, so a restarted loop
remembers it too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from darkroom.analytics.errors import InvalidTriggerConfig
from darkroom.analytics.jobs import JOBS, Job
from darkroom.analytics.jobs.dag import downstream
from darkroom.analytics.state import processed_snapshot
from darkroom.analytics.workflows import ALL, backfill_workflow_name, workflow_name
from darkroom.config import Settings
from darkroom.runtime.workflow import Workflows

__all__ = ["ACTIVE_STATES", "SOURCE_SNAPSHOT", "Reason", "Scheduler", "Started", "Triggers"]

log = logging.getLogger(__name__)
ACTIVE_STATES = ("pending", "running")
SOURCE_SNAPSHOT = "source_snapshot"  # the label of a triggered run: the source's head it was started for


class Reason(StrEnum):
    INCREMENTAL = "incremental"
    INTERVAL = "interval"


@dataclass(frozen=True, slots=True)
class Triggers:
    """When jobs run: ``interval_s`` per job name (0 or missing: no interval trigger), the
    incremental trigger on or off, and how often the loop looks."""

    interval_s: dict[str, float] = field(default_factory=dict)
    incremental: bool = True
    poll_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings, jobs: tuple[Job, ...] = JOBS) -> Triggers:
        """``analytics_job_interval_s`` for every job, overridden by ``analytics_job_intervals``
        (``job=SECONDS,…``); :class:`InvalidTriggerConfig` naming a bad entry."""
        names = {j.name for j in jobs}
        intervals = dict.fromkeys(names, settings.analytics_job_interval_s)
        for entry in filter(None, (e.strip() for e in settings.analytics_job_intervals.split(","))):
            name, _, seconds = entry.partition("=")
            name = name.strip()
            if name not in names:
                raise InvalidTriggerConfig(
                    f"DARKROOM_ANALYTICS_JOB_INTERVALS: {entry!r} names no job (the jobs: {', '.join(sorted(names))})"
                )
            try:
                value = float(seconds)
            except ValueError:
                value = -1.0
            if not value >= 0:  # NaN too
                raise InvalidTriggerConfig(f"DARKROOM_ANALYTICS_JOB_INTERVALS: {entry!r} is not job=SECONDS (>= 0)")
            intervals[name] = value
        return cls(intervals, poll_s=settings.analytics_trigger_poll_s)


@dataclass(frozen=True, slots=True)
class Started:
    job: str
    workflow_id: str
    reason: Reason
    source_snapshot_id: int | None  # the source's head when started


class Scheduler:
    """Starts jobs' runs on ``workflows`` (a client whose registry has the analytics workflows)
    from ``catalog``'s snapshots. :meth:`check` is one look; :meth:`run` looks until stopped."""

    def __init__(
        self,
        workflows: Workflows,
        catalog: Catalog,
        triggers: Triggers,
        jobs: tuple[Job, ...] = JOBS,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workflows = workflows
        self.catalog = catalog
        self.triggers = triggers
        self.jobs = jobs
        self._clock = clock
        started = clock()  # the interval counts from the loop's start: no burst of runs on boot
        self._last_start = {j.name: started for j in jobs}
        self._triggered_at: dict[str, int | None] = {}  # job -> the source snapshot last triggered

    def check(self) -> list[Started]:
        """Start every job that is idle and has a trigger due; what was started."""
        started = []
        busy = self._busy()
        for job in self.jobs:
            if job.name in busy:
                continue
            head = self._head(job)
            reason = self._reason(job, head)
            if reason is None:
                continue
            labels = {"trigger": str(reason)}
            if head is not None:
                labels[SOURCE_SNAPSHOT] = str(head)
            run = self.workflows.start(workflow_name(job.name), {}, labels=labels)
            self._last_start[job.name] = self._clock()
            if head is not None:
                self._triggered_at[job.name] = head
            log.info("analytics job %s started (%s): %s", job.name, reason, run.id)
            started.append(Started(job.name, run.id, reason, head))
        return started

    def run(self, stop: threading.Event) -> None:
        """:meth:`check` every ``poll_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.check()
            except Exception:  # a catalog or database hiccup: the next look tries again
                log.exception("analytics trigger check failed; trying again in %.1fs", self.triggers.poll_s)
            stop.wait(self.triggers.poll_s)

    def _reason(self, job: Job, head: int | None) -> Reason | None:
        if (
            self.triggers.incremental
            and head is not None
            and head != self._processed(job)
            and self._last_triggered(job) != head
        ):
            return Reason.INCREMENTAL
        interval = self.triggers.interval_s.get(job.name, 0.0)
        if interval > 0 and self._clock() - self._last_start[job.name] >= interval:
            return Reason.INTERVAL
        return None

    def _last_triggered(self, job: Job) -> int | None:
        """The source snapshot the loop last started ``job`` for; after a restart, read once from
        the label of the job's newest run (none, or not started by a trigger: None)."""
        if job.name not in self._triggered_at:
            self._triggered_at[job.name] = None
            newest = self.workflows.store.runs(name=workflow_name(job.name), limit=1)
            if newest and self.workflows.operations is not None:
                try:
                    label = self.workflows.operations.get(newest[0].id, load_result=False).labels.get(SOURCE_SNAPSHOT)
                except LookupError:
                    label = None
                if label is not None and label.lstrip("-").isdigit():
                    self._triggered_at[job.name] = int(label)
        return self._triggered_at[job.name]

    def _busy(self) -> set[str]:
        """The jobs a pending or running workflow will run: its own, ``analytics.all``, or a
        backfill of it or of a job upstream of it (whose commits a trigger would otherwise
        answer with a full recompute between the backfill's steps)."""
        busy: set[str] = set()
        if self._active(ALL):
            return {j.name for j in self.jobs}
        for job in self.jobs:
            if self._active(workflow_name(job.name)):
                busy.add(job.name)
            if self._active(backfill_workflow_name(job.name)):
                busy |= {job.name, *(j.name for j in downstream(job, self.jobs))}
        return busy

    def _active(self, workflow: str) -> bool:
        return bool(self.workflows.store.runs(name=workflow, states=ACTIVE_STATES, limit=1))

    def _head(self, job: Job) -> int | None:
        try:
            snapshot = self.catalog.load_table(job.source).current_snapshot()
        except NoSuchTableError:
            return None
        return snapshot.snapshot_id if snapshot is not None else None

    def _processed(self, job: Job) -> int | None:
        try:
            return processed_snapshot(self.catalog.load_table(job.target))
        except NoSuchTableError:
            return None
