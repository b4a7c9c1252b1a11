"""Count the SQL statements a block of code sends (SQLAlchemy's ``before_cursor_execute``, and on
SQLite the ``BEGIN`` each transaction sends on the driver's connection, from the ``begin`` event)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from darkroom.storage.db import sqlite_begin

__all__ = ["statements"]


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL text of every statement ``engine`` executes inside the block, in order."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    def began(conn: sa.Connection) -> None:
        if engine.dialect.name == "sqlite" and (statement := sqlite_begin(conn)) is not None:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    sa.event.listen(engine, "begin", began)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
        sa.event.remove(engine, "begin", began)
