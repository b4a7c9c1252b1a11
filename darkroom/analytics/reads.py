"""Small reads of the jobs' tables for the web app: one post's ``post_daily_stats`` rows and the
recent days of ``pipeline_sla``, as plain values.

Each read loads the table (its current snapshot from the catalog) and answers from a small
bounded cache keyed by the snapshot id, so a repeat costs the catalog look-up alone and a new
commit of the job is seen at once. A miss scans with a pushed-down row filter (``post_id = …``:
files whose bounds exclude the post are skipped; ``day >= …``: whole day partitions are), never
the whole table. A table that does not exist yet (no job has run) reads as no rows.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import BooleanExpression, EqualTo, GreaterThanOrEqual
from pyiceberg.table import Table

from darkroom.analytics.tables import NAMESPACE

__all__ = [
    "PIPELINE_SLA_TABLE",
    "POST_DAILY_STATS_TABLE",
    "PostDay",
    "SlaDay",
    "StatsReader",
]

# the jobs' targets (jobs/post_daily_stats.py, jobs/pipeline_sla.py; a test holds them equal),
# named here so the web app does not import the jobs (DuckDB) to read them
POST_DAILY_STATS_TABLE = (NAMESPACE, "post_daily_stats")
PIPELINE_SLA_TABLE = (NAMESPACE, "pipeline_sla")
_MAX_ENTRIES = 256  # cached answers (a post's days, or the SLA's recent days): a few MB at most
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PostDay:
    """One UTC day of a post: ``post.viewed`` events, distinct viewers, likes, comments."""

    day: dt.date
    impressions: int
    unique_viewers: int
    likes: int
    comments: int


@dataclass(frozen=True, slots=True)
class SlaDay:
    """One UTC day of a workflow at a priority: its finished steps' durations and its finished
    runs' lateness (finished minus deadline; ``None``: no value that day)."""

    day: dt.date
    workflow: str
    priority: str
    steps: int
    step_p50_ms: float | None
    step_p95_ms: float | None
    workflows: int
    late: int
    lateness_p50_ms: float | None
    lateness_p95_ms: float | None
    lateness_max_ms: int | None


class StatsReader:
    """Reads of the jobs' tables through ``catalog`` (shared by a process's threads)."""

    def __init__(self, catalog: Catalog, *, max_entries: int = _MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._catalog = catalog
        self._max_entries = max_entries
        self._cache: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def post_days(self, post_id: str) -> tuple[PostDay, ...]:
        """``post_id``'s days, oldest first; none when the table or its rows do not exist yet."""

        def scan(table: Table, snapshot_id: int) -> tuple[PostDay, ...]:
            rows = table.scan(
                row_filter=_predicate(EqualTo, "post_id", post_id),
                selected_fields=("day", "impressions", "unique_viewers", "likes", "comments"),
                snapshot_id=snapshot_id,
            ).to_arrow()
            return tuple(sorted((PostDay(**r) for r in rows.to_pylist()), key=lambda d: d.day))

        return self._cached(POST_DAILY_STATS_TABLE, ("post", post_id), scan, ())

    def pipeline_days(self, since: dt.date) -> tuple[SlaDay, ...]:
        """``pipeline_sla`` from ``since`` on, by day, workflow and priority."""

        def scan(table: Table, snapshot_id: int) -> tuple[SlaDay, ...]:
            rows = table.scan(
                row_filter=_predicate(GreaterThanOrEqual, "day", since.isoformat()), snapshot_id=snapshot_id
            ).to_arrow()
            days = (SlaDay(**r) for r in rows.to_pylist())
            return tuple(sorted(days, key=lambda d: (d.day, d.workflow, d.priority)))

        return self._cached(PIPELINE_SLA_TABLE, ("sla", since), scan, ())

    def _cached(self, identifier: tuple[str, str], key: Hashable, scan: Callable[[Table, int], _T], empty: _T) -> _T:
        try:
            table = self._catalog.load_table(identifier)
        except NoSuchTableError:
            return empty
        snapshot = table.current_snapshot()
        if snapshot is None:
            return empty
        entry = (identifier, snapshot.snapshot_id, key)
        with self._lock:
            if entry in self._cache:
                self._cache.move_to_end(entry)
                return self._cache[entry]  # type: ignore[return-value]
        found = scan(table, snapshot.snapshot_id)  # outside the lock: two misses may both scan
        with self._lock:
            self._cache[entry] = found
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return found


def _predicate(kind: Any, column: str, value: object) -> BooleanExpression:
    # pyiceberg's predicates take (column name, literal) at run time; their stubs say otherwise
    # (as in jobs/filters.py, not imported here: the jobs package imports DuckDB)
    made: BooleanExpression = kind(column, value)
    return made
