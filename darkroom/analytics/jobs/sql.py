"""DuckDB over Arrow: how a job runs its SQL (kept portable: docs/analytics.md shows Spark and
Trino forms of each statement)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from darkroom.analytics.errors import InvalidQuery

__all__ = ["connect", "run_sql"]


def connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB whose session time zone is UTC: days and hours of a
    ``timestamptz`` are UTC ones, as Spark's and Trino's are with ``UTC`` sessions."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    return con


def run_sql(sql: str, **tables: pa.Table) -> pa.Table:
    """The result of ``sql`` over ``tables`` (each registered under its keyword's name)."""
    con = connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        try:
            return con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidQuery(f"DuckDB refused the query: {exc}") from exc
    finally:
        con.close()
