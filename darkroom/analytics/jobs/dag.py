"""Which job reads which table: the jobs' DAG, from each job's source and target.

``events`` (written by the ingest) → ``events_clean`` and ``post_daily_stats``;
``events_clean`` → ``trending_tags`` and ``pipeline_sla``. A job is *downstream* of another when
it reads that job's target, or the target of a job downstream of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from darkroom.analytics.jobs.job import Job

__all__ = ["downstream", "edges"]


def edges(jobs: Sequence[Job]) -> list[tuple[str, str]]:
    """The DAG as (table, table) edges, ``namespace.name`` each, in ``jobs``' order."""
    return [(".".join(j.source), ".".join(j.target)) for j in jobs]


def downstream(job: Job, jobs: Sequence[Job]) -> list[Job]:
    """The jobs that read ``job``'s target, directly or through another job, in ``jobs``' order
    (which is a dependency order: a job after the job that writes its source)."""
    written = {job.target}
    found: list[Job] = []
    for j in jobs:
        if j.source in written and j is not job:
            found.append(j)
            written.add(j.target)
    return found
