"""The statements of an engine pass, run straight on SQLite's DB-API cursor.

SQLAlchemy Core spends about 80 µs of Python on every execution (context, events, result
wrapping), whatever the statement; SQLite runs these in about 5 µs. A pass runs seven of them, so
on SQLite the store sends them to the cursor of the same connection, inside the same transaction,
with the same SQL SQLAlchemy would emit and the same JSON encoding (``json.dumps`` text, ``None``
as ``null``). PostgreSQL keeps the SQLAlchemy statements.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

__all__ = [
    "RUN_JSON",
    "STEP_JSON",
    "TASK_JSON",
    "cursor",
    "decode",
    "encode",
    "from_json",
    "params",
    "select",
    "update",
]

RUN_JSON = frozenset({"inputs", "outputs"})
STEP_JSON = frozenset({"output"})
TASK_JSON = frozenset({"output"})


def cursor(conn: sa.Connection) -> sqlite3.Cursor | None:
    """The DB-API cursor of ``conn`` when it is SQLite (in its current transaction), else None."""
    if conn.dialect.name != "sqlite":
        return None
    raw = conn.connection.driver_connection
    return raw.cursor() if isinstance(raw, sqlite3.Connection) else None


def encode(value: Any, is_json: bool) -> Any:
    return json.dumps(value) if is_json else value


def from_json(value: Any) -> Any:
    """A JSON column's value. SQLite gives the column NUMERIC affinity, so a JSON number comes
    back as a number rather than text (SQLAlchemy passes those through too)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def decode(row: Sequence[Any], cols: Sequence[str], json_cols: frozenset[str]) -> dict[str, Any]:
    return {c: (from_json(v) if c in json_cols else v) for c, v in zip(cols, row, strict=True)}


def select(table: str, cols: Sequence[str], where: Sequence[str], order: str = "") -> str:
    sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {' AND '.join(f'{c} = ?' for c in where)}"
    return sql + (f" ORDER BY {order}" if order else "")


def update(table: str, cols: Sequence[str], where: Sequence[str]) -> str:
    sets = ", ".join(f"{c} = ?" for c in cols)
    return f"UPDATE {table} SET {sets} WHERE {' AND '.join(f'{c} = ?' for c in where)}"


def params(row: Mapping[str, Any], cols: Sequence[str], json_cols: frozenset[str]) -> tuple[Any, ...]:
    return tuple(encode(row[c], c in json_cols) for c in cols)
