"""Ad-hoc SQL over the analytics tables: DuckDB over Arrow scans of the ``darkroom`` namespace's
tables that the query names (``events``, ``events_clean``, ``post_daily_stats``, …)."""

from __future__ import annotations

import re

import pyarrow as pa
from pyiceberg.catalog import Catalog

from darkroom.analytics.jobs.sql import run_sql
from darkroom.analytics.tables import NAMESPACE

__all__ = ["query"]


def query(catalog: Catalog, sql: str) -> pa.Table:
    """The result of ``sql``; each table of the namespace it names is read whole (a local tool:
    for big tables, a WHERE belongs in a job's pushed-down scan or in Spark/Trino);
    :class:`~darkroom.analytics.errors.InvalidQuery` with DuckDB's reason when it is refused."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}
    tables: dict[str, pa.Table] = {}
    if catalog.namespace_exists(NAMESPACE):
        for identifier in catalog.list_tables(NAMESPACE):
            name = identifier[-1]
            if name.lower() in words:
                tables[name] = catalog.load_table(identifier).scan().to_arrow()
    return run_sql(sql, **tables)
