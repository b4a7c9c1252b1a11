"""The analytics package's errors: one base class, builtins where the meaning matches."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = [
    "AnalyticsError",
    "CompactionAborted",
    "InvalidCatalogUrl",
    "InvalidBackfillDate",
    "InvalidEntry",
    "InvalidIngestConfig",
    "InvalidQuery",
    "InvalidTriggerConfig",
    "JobRunFailed",
    "RunNotFinished",
    "JobConflict",
    "OutOfOrder",
    "StatsUnavailable",
    "UnknownColumn",
    "UnknownJob",
    "UnknownSnapshot",
]


class AnalyticsError(DarkroomError):
    """Base class of the analytics package's errors."""


class InvalidCatalogUrl(AnalyticsError, ValueError):
    """A catalog URI or warehouse URL of a kind the catalog cannot use; the message names it."""


class InvalidIngestConfig(AnalyticsError, ValueError):
    """An ingest limit out of its range; the message names the setting and the value."""


class InvalidEntry(AnalyticsError, ValueError):
    """A stream entry that is no event row: ``entry_id`` names it, ``reason`` says what is wrong.
    Ingest dead-letters such entries instead of letting them hold the batch back."""

    def __init__(self, entry_id: str, reason: str) -> None:
        super().__init__(f"stream entry {entry_id!r} is not an event row: {reason}")
        self.entry_id = entry_id
        self.reason = reason


class OutOfOrder(AnalyticsError, RuntimeError):
    """A batch cannot be committed yet: entries before it are read but not committed (another
    ingester holds them). The batch is dropped from memory and read again."""


class UnknownJob(AnalyticsError, LookupError):
    """A job name that is not one of the analytics jobs; the message names it and the known ones."""


class UnknownColumn(AnalyticsError, LookupError):
    """A column a job asked for that its table does not have; the message names both."""


class UnknownSnapshot(AnalyticsError, LookupError):
    """A read pinned to a snapshot id the table does not have (expired, or another table's)."""


class JobConflict(AnalyticsError, RuntimeError):
    """A job's commit lost the race for its target table too many times in a row (another run of
    the same job keeps committing first)."""


class InvalidBackfillDate(AnalyticsError, ValueError):
    """A backfill's ``--since`` that is not a date (YYYY-MM-DD); the message names the value."""


class InvalidQuery(AnalyticsError, ValueError):
    """A query DuckDB refused; the message holds DuckDB's reason."""


class CompactionAborted(AnalyticsError, RuntimeError):
    """A partition's rewrite was abandoned (another commit removed its files, or it kept losing
    the commit race); the message says which. Its new files are deleted and nothing is committed."""


class StatsUnavailable(AnalyticsError, OSError):
    """A read of a job's table for the web app failed (the catalog database or the warehouse did
    not answer, a data file is gone); the message names the table and the cause."""


class InvalidTriggerConfig(AnalyticsError, ValueError):
    """A job trigger setting (``DARKROOM_ANALYTICS_JOB_INTERVALS``) that names no job or no
    interval; the message names the entry."""


class JobRunFailed(AnalyticsError, RuntimeError):
    """A job's workflow run ended without succeeding; the message names the run and its error."""


class RunNotFinished(AnalyticsError, TimeoutError):
    """A job's workflow run was still going when the command stopped waiting; the message names
    the run (which goes on)."""
