"""The analytics jobs as Darkroom workflows, run by the engine (docs/analytics.md, "Jobs are
workflows").

- :data:`RUN_JOB` (``analytics.run_job(job)``) runs one job (:func:`jobs.run`) and returns what
  the run did; :data:`BACKFILL_JOB` (``analytics.backfill_job(job, since, upstream)``) one job's
  part of a backfill. Both run on the queue ``analytics``, created **exclusive on** ``job``: two
  runs of one job never overlap, whatever started them, while different jobs run side by side.
  Both are safe to run twice (a repeat finds the state moved and is a no-op), so a failed attempt
  is retried through the functions' retry policy.
- Workflows: ``analytics.<job>`` (one step), ``analytics.all`` (every job, each after the job
  that writes its source) and ``analytics.backfill.<job>`` (input ``since``: the catch-up runs of
  the job and its downstream jobs, then their backfills, in dependency order).

:data:`APP` names :data:`registry` for ``load_app``: ``darkroom up`` adds it to its engines' app
and runs a worker of its own for the queue; the trigger loop (:mod:`darkroom.analytics.scheduler`)
and ``darkroom analytics run`` start the runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from darkroom.analytics.catalog import catalog_location, open_catalog
from darkroom.analytics.errors import InvalidBackfillDate, UnknownJob
from darkroom.analytics.jobs import JOBS, Job, Run, job_named, run
from darkroom.analytics.jobs.backfill import Backfilled, backfill_one, parse_since
from darkroom.analytics.jobs.dag import downstream
from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.resources import SETTINGS
from darkroom.runtime.workflow import StepOptions, Workflow

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog as Catalog

__all__ = [
    "ALL",
    "APP",
    "BACKFILL_JOB",
    "EXCLUSIVE_KEY",
    "QUEUE",
    "RUN_JOB",
    "all_workflow",
    "backfill_job",
    "backfill_workflow",
    "backfill_workflow_name",
    "job_workflow",
    "registry",
    "run_job",
    "workflow_name",
]

APP = "darkroom.analytics.workflows:registry"
QUEUE = "analytics"
EXCLUSIVE_KEY = "job"  # the queue's exclusivity key: the argument naming the job
RUN_JOB = "analytics.run_job"
BACKFILL_JOB = "analytics.backfill_job"
ALL = "analytics.all"
# A job run is bounded by its change; a full recompute of a large history takes minutes.
_TIMEOUT_S = 3600.0

registry = Registry()


def workflow_name(job: str) -> str:
    return f"analytics.{job}"


def backfill_workflow_name(job: str) -> str:
    return f"analytics.backfill.{job}"


@contextmanager
def _catalog(ctx: TaskContext) -> Iterator[Catalog]:
    catalog = open_catalog(catalog_location(ctx.resources[SETTINGS]))
    try:
        yield catalog
    finally:
        catalog.engine.dispose()


def run_json(r: Run) -> dict[str, Any]:
    return {k: str(getattr(r, k)) if k == "mode" else getattr(r, k) for k in r.__slots__}


def backfilled_json(b: Backfilled) -> dict[str, Any]:
    return {k: b.since.isoformat() if k == "since" else getattr(b, k) for k in b.__slots__}


@registry.function(
    RUN_JOB, queue=QUEUE, exclusive_on=EXCLUSIVE_KEY, lease_s=60.0, timeout_s=_TIMEOUT_S, max_attempts=3,
    retry_backoff_s=2.0, permanent_errors=(UnknownJob,),
)  # fmt: skip
def run_job(ctx: TaskContext, job: str) -> dict[str, Any]:
    """Run ``job`` once: its source's change since its state, committed with the new state."""
    chosen = job_named(job)
    ctx.progress(0.0, f"running {job}")
    with _catalog(ctx) as catalog:
        return run_json(run(chosen, catalog))


@registry.function(
    BACKFILL_JOB, queue=QUEUE, exclusive_on=EXCLUSIVE_KEY, lease_s=60.0, timeout_s=_TIMEOUT_S, max_attempts=3,
    retry_backoff_s=2.0, permanent_errors=(UnknownJob, InvalidBackfillDate),
)  # fmt: skip
def backfill_job(ctx: TaskContext, job: str, since: str, upstream: bool) -> dict[str, Any]:
    """``job``'s part of a backfill from ``since`` (:func:`backfill_one`)."""
    chosen, day = job_named(job), parse_since(since)
    ctx.progress(0.0, f"backfilling {job} from {since}")
    with _catalog(ctx) as catalog:
        return backfilled_json(backfill_one(chosen, catalog, day, upstream=upstream))


def job_workflow(job: Job, fn: str = RUN_JOB) -> Workflow:
    """``analytics.<job>``: one step, ``run``, whose output is what the run did."""
    wf = Workflow(workflow_name(job.name), priority="batch", description=f"analytics job {job.name}: {job.description}")
    wf.output("run", wf.task("run", fn, job=job.name).ref)
    return wf


def all_workflow(jobs: tuple[Job, ...] = JOBS, fn: str = RUN_JOB) -> Workflow:
    """``analytics.all``: a step per job (named after it), each after the job writing its source."""
    wf = Workflow(ALL, priority="batch", description="every analytics job, each after the job it reads")
    writers: dict[tuple[str, str], Any] = {}
    for job in jobs:  # JOBS is a dependency order
        upstream = writers.get(job.source)
        step = wf.task(job.name, fn, job=job.name, options=StepOptions(after=[upstream] if upstream else []))
        writers[job.target] = step
        wf.output(job.name, step.ref)
    return wf


def backfill_workflow(job: Job, jobs: tuple[Job, ...] = JOBS) -> Workflow:
    """``analytics.backfill.<job>`` (input ``since``): catch-up runs of ``job`` and the jobs
    downstream of it, then their backfills, one step after the other in dependency order."""
    wf = Workflow(
        backfill_workflow_name(job.name), inputs=["since"], priority="batch",
        description=f"backfill {job.name} from a day on, then the jobs downstream of it",
    )  # fmt: skip
    chain = (job, *downstream(job, jobs))
    previous: Any = None
    for j in chain:
        previous = wf.task(f"catch-up-{j.name}", RUN_JOB, job=j.name, options=_after(previous))
    for j in chain:
        previous = wf.task(
            f"backfill-{j.name}", BACKFILL_JOB, job=j.name, since=wf.input("since"), upstream=j is not job,
            options=_after(previous),
        )  # fmt: skip
        wf.output(j.name, previous.ref)
    return wf


def _after(step: Any) -> StepOptions:
    return StepOptions(after=[step] if step is not None else [])


for _job in JOBS:
    registry.add_workflow(job_workflow(_job))
    registry.add_workflow(backfill_workflow(_job))
registry.add_workflow(all_workflow())
