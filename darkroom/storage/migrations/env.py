"""Alembic environment: migrates the metadata database towards ``darkroom.storage.schema``.

Run through ``darkroom.storage.db.upgrade`` (or ``darkroom db upgrade``), which passes an open
connection already inside the transaction that serializes concurrent upgrades (BEGIN IMMEDIATE on
SQLite, an advisory lock on PostgreSQL) as ``config.attributes["connection"]``. Offline (``--sql``)
mode renders SQL for ``sqlalchemy.url``'s dialect.
"""

from __future__ import annotations

from alembic import context

from darkroom.storage.errors import DatabaseError
from darkroom.storage.schema import metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: autogenerate renders batch ("move and copy") operations.
        render_as_batch=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _run_offline() -> None:
    _configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise DatabaseError("migrations run through darkroom.storage.db.upgrade (or `darkroom db upgrade`)")
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
