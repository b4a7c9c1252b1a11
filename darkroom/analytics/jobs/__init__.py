"""The incremental jobs over ``darkroom.events`` (docs/analytics.md, "Incremental jobs").

======================  =========================  =====================================
job                     source → target            pattern
======================  =========================  =====================================
``events_clean``        events → events_clean      1→1, appended
``post_daily_stats``    events → post_daily_stats  changed keys recomputed, merged
``trending_tags``       events_clean → …           affected 24 h windows recomputed
``pipeline_sla``        events_clean → …           affected days recomputed
======================  =========================  =====================================

:data:`JOBS` lists them in dependency order (a job after the job that writes its source).
"""

from __future__ import annotations

from darkroom.analytics.errors import UnknownJob
from darkroom.analytics.jobs.events_clean import EVENTS_CLEAN, EventsClean
from darkroom.analytics.jobs.job import Job, Output, Pattern, target_table
from darkroom.analytics.jobs.pipeline_sla import PIPELINE_SLA, PipelineSla
from darkroom.analytics.jobs.post_daily_stats import POST_DAILY_STATS, PostDailyStats
from darkroom.analytics.jobs.runner import Mode, Plan, Run, commit, compute, plan, run
from darkroom.analytics.jobs.trending_tags import TRENDING_TAGS, TrendingTags

__all__ = [
    "EVENTS_CLEAN",
    "JOBS",
    "Job",
    "Mode",
    "Output",
    "PIPELINE_SLA",
    "POST_DAILY_STATS",
    "Pattern",
    "Plan",
    "Run",
    "TRENDING_TAGS",
    "commit",
    "compute",
    "job_named",
    "plan",
    "run",
    "target_table",
]

JOBS: tuple[Job, ...] = (EventsClean(), PostDailyStats(), TrendingTags(), PipelineSla())


def job_named(name: str) -> Job:
    """The job called ``name``; :class:`UnknownJob` naming it and the known ones otherwise."""
    for job in JOBS:
        if job.name == name:
            return job
    raise UnknownJob(f"no analytics job {name!r}; the jobs are {', '.join(j.name for j in JOBS)}")
