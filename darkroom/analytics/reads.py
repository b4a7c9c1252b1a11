"""Small reads of the jobs' tables for the web app: one post's ``post_daily_stats`` rows and the
recent days of ``pipeline_sla``, as plain values.

Each read loads the table (its current snapshot from the catalog) and answers from a small
bounded cache keyed by the snapshot id, so a repeat costs the catalog look-up alone and a new
commit of the job is seen at once. On a miss:

- ``post_daily_stats`` of at most ``whole_table_rows`` rows (the snapshot summary's count) is read
  whole once per snapshot and kept (only the newest snapshot's copy: about 70 bytes a row), and a
  post is a filter over it in memory. A scan filtered on ``post_id`` costs more than that whole
  read: the job's files are per day and each holds every post's day, so file bounds prune nothing
  and every file is opened either way (docs/web.md has the numbers).
- A larger table is scanned with the pushed-down row filter ``post_id = …``.
- ``pipeline_sla`` is scanned with ``day >= …`` (whole day partitions are skipped).

A table that does not exist yet (no job has run) reads as no rows; a catalog or warehouse that
does not answer is :class:`~darkroom.analytics.errors.StatsUnavailable` naming the table.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import BooleanExpression, EqualTo, GreaterThanOrEqual, In
from pyiceberg.table import Table
from sqlalchemy.exc import SQLAlchemyError

from darkroom.analytics.errors import StatsUnavailable
from darkroom.analytics.tables import NAMESPACE

__all__ = [
    "PIPELINE_SLA_TABLE",
    "POST_DAILY_STATS_TABLE",
    "PostDay",
    "PostTotals",
    "SlaDay",
    "StatsReader",
]

# the jobs' targets (jobs/post_daily_stats.py, jobs/pipeline_sla.py; a test holds them equal),
# named here so the web app does not import the jobs (DuckDB) to read them
POST_DAILY_STATS_TABLE = (NAMESPACE, "post_daily_stats")
PIPELINE_SLA_TABLE = (NAMESPACE, "pipeline_sla")
_MAX_ENTRIES = 256  # cached answers (a post's days, or the SLA's recent days): a few MB at most
_WHOLE_TABLE_ROWS = 1_000_000  # post_daily_stats read whole up to this: about 70 MB of Arrow
_POST_COLUMNS = ("post_id", "day", "impressions", "unique_viewers", "likes", "comments")
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
class PostTotals:
    """A post's counts over every counted day (unique viewers: the most of one day)."""

    impressions: int
    most_viewers: int
    likes: int
    comments: int
    days: int


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

    def __init__(
        self, catalog: Catalog, *, max_entries: int = _MAX_ENTRIES, whole_table_rows: int = _WHOLE_TABLE_ROWS
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if whole_table_rows < 0:
            raise ValueError(f"whole_table_rows must be at least 0, got {whole_table_rows}")
        self._catalog = catalog
        self._max_entries = max_entries
        self._whole_table_rows = whole_table_rows
        self._cache: OrderedDict[Hashable, object] = OrderedDict()
        self._whole: tuple[int, pa.Table] | None = None  # post_daily_stats at one snapshot
        self._lock = threading.Lock()

    @property
    def whole_table_rows(self) -> int:
        """``post_daily_stats`` of at most this many rows is read whole once per snapshot."""
        return self._whole_table_rows

    def post_days(self, post_id: str) -> tuple[PostDay, ...]:
        """``post_id``'s days, oldest first; none when the table or its rows do not exist yet."""

        def scan(table: Table, snapshot_id: int) -> tuple[PostDay, ...]:
            whole = self._whole_table(table, snapshot_id)
            if whole is not None:
                rows = whole.filter(pc.equal(whole["post_id"], post_id))
            else:
                rows = table.scan(
                    row_filter=_predicate(EqualTo, "post_id", post_id),
                    selected_fields=_POST_COLUMNS,
                    snapshot_id=snapshot_id,
                ).to_arrow()
            days = (PostDay(**r) for r in rows.drop_columns(["post_id"]).to_pylist())
            return tuple(sorted(days, key=lambda d: d.day))

        return self._cached(POST_DAILY_STATS_TABLE, ("post", post_id), scan, ())

    def post_totals(self, post_ids: tuple[str, ...]) -> dict[str, PostTotals]:
        """Each of ``post_ids``'s totals; a post without a counted day is left out."""

        def scan(table: Table, snapshot_id: int) -> dict[str, PostTotals]:
            whole = self._whole_table(table, snapshot_id)
            if whole is not None:
                rows = whole.filter(pc.is_in(whole["post_id"], pa.array(post_ids, whole["post_id"].type)))
            else:
                rows = table.scan(
                    row_filter=_predicate(In, "post_id", post_ids),
                    selected_fields=_POST_COLUMNS,
                    snapshot_id=snapshot_id,
                ).to_arrow()
            summed = rows.group_by("post_id").aggregate(
                [("impressions", "sum"), ("unique_viewers", "max"), ("likes", "sum"), ("comments", "sum"),
                 ("day", "count")]
            )  # fmt: skip
            return {
                r["post_id"]: PostTotals(
                    r["impressions_sum"], r["unique_viewers_max"], r["likes_sum"], r["comments_sum"], r["day_count"]
                )
                for r in summed.to_pylist()
            }

        return self._cached(POST_DAILY_STATS_TABLE, ("totals", post_ids), scan, {})

    def pipeline_days(self, since: dt.date) -> tuple[SlaDay, ...]:
        """``pipeline_sla`` from ``since`` on, by day, workflow and priority."""

        def scan(table: Table, snapshot_id: int) -> tuple[SlaDay, ...]:
            rows = table.scan(
                row_filter=_predicate(GreaterThanOrEqual, "day", since.isoformat()),
                selected_fields=tuple(f.name for f in fields(SlaDay)),
                snapshot_id=snapshot_id,
            ).to_arrow()
            days = (SlaDay(**r) for r in rows.to_pylist())
            return tuple(sorted(days, key=lambda d: (d.day, d.workflow, d.priority)))

        return self._cached(PIPELINE_SLA_TABLE, ("sla", since), scan, ())

    def _whole_table(self, table: Table, snapshot_id: int) -> pa.Table | None:
        """``post_daily_stats`` at ``snapshot_id``, read once; None when it has too many rows."""
        with self._lock:
            if self._whole is not None and self._whole[0] == snapshot_id:
                return self._whole[1]
        snapshot = table.snapshot_by_id(snapshot_id)
        summary = snapshot.summary if snapshot is not None else None
        total = summary.additional_properties.get("total-records") if summary is not None else None
        if total is None or int(total) > self._whole_table_rows:
            return None
        whole = table.scan(selected_fields=_POST_COLUMNS, snapshot_id=snapshot_id).to_arrow()
        with self._lock:
            self._whole = (snapshot_id, whole)
        return whole

    def _cached(self, identifier: tuple[str, str], key: Hashable, scan: Callable[[Table, int], _T], empty: _T) -> _T:
        try:
            return self._read(identifier, key, scan, empty)
        except (SQLAlchemyError, OSError) as exc:  # the catalog's database, the warehouse's files
            raise StatsUnavailable(f"the analytics table {'.'.join(identifier)} could not be read: {exc}") from exc

    def _read(self, identifier: tuple[str, str], key: Hashable, scan: Callable[[Table, int], _T], empty: _T) -> _T:
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
