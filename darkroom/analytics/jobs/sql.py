"""DuckDB over Arrow: how a job runs its SQL (kept portable: docs/analytics.md shows Spark and
Trino forms of each statement)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import duckdb
import pyarrow as pa

from darkroom.analytics.errors import InvalidQuery

__all__ = ["connect", "run_sql", "stream_sql"]


_lock = threading.Lock()
_databases: dict[int, duckdb.DuckDBPyConnection] = {}  # by the pid that opened it: a forked child opens its own


def connect() -> duckdb.DuckDBPyConnection:
    """A connection of its own (its registered names are private to it) to the process's one
    in-memory DuckDB, with the session time zone UTC: days and hours of a ``timestamptz`` are UTC
    ones, as Spark's and Trino's are with ``UTC`` sessions. Opening a database costs 15-70 ms here,
    a connection to an open one well under 1 ms, and a small incremental run queries a few times."""
    with _lock:
        database = _databases.get(os.getpid())
        if database is None:
            database = _databases[os.getpid()] = duckdb.connect(":memory:")
        con = database.cursor()
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


def stream_sql(sql: str, rows_per_chunk: int, **sources: pa.RecordBatchReader) -> Iterator[pa.Table]:
    """The result of ``sql`` over ``sources`` (read once, as DuckDB asks for them) in tables of
    about ``rows_per_chunk`` rows: memory holds what the query keeps (its groups) and a chunk,
    never a whole source or a whole result."""
    con = connect()
    try:
        for name, reader in sources.items():
            con.register(name, reader)
        try:
            result = con.sql(sql).to_arrow_reader(rows_per_chunk)
            # DuckDB hands out batches of its own size (tens of thousands of rows), whatever was
            # asked: gathered here, so a chunk is a few large files, not many small ones
            held: list[pa.RecordBatch] = []
            rows = 0
            for batch in result:
                held.append(batch)
                rows += batch.num_rows
                if rows >= rows_per_chunk:
                    yield pa.Table.from_batches(held)
                    held, rows = [], 0
            if held:
                yield pa.Table.from_batches(held)
        except duckdb.Error as exc:
            raise InvalidQuery(f"DuckDB refused the query: {exc}") from exc
    finally:
        con.close()
