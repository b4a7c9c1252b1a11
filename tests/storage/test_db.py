"""The metadata database: URLs, SQLite settings, migrations against schema.py, concurrent processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import StaticPool
from typer.testing import CliRunner

from darkroom.config import Settings
from darkroom.storage import db
from darkroom.storage.errors import InvalidStorageUrl, StorageError
from darkroom.storage.schema import metadata, steps, workflows

WRITES_PER_PROCESS = 150


# -- worker processes (spawned: module-level, importable) --------------------------------------------
def _open_after(url: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    db.open_database(url).dispose()


def _writer(url: str, worker: int, barrier: Any) -> None:
    """Many short read-then-write transactions on shared rows: the pattern that deadlocks on SQLite
    when transactions begin DEFERRED."""
    engine = db.connect(url)
    barrier.wait(timeout=60)
    for i in range(WRITES_PER_PROCESS):
        with engine.begin() as conn:
            conn.execute(sa.insert(workflows).values(_workflow_row(f"w{worker}-{i}")))
        with engine.begin() as conn:
            version = conn.execute(sa.select(workflows.c.version).where(workflows.c.id == "shared")).scalar_one()
            conn.execute(sa.update(workflows).where(workflows.c.id == "shared").values(version=version + 1))
        with db.read_only(engine).connect() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(workflows)).scalar_one()
    engine.dispose()


def _workflow_row(workflow_id: str) -> dict[str, Any]:
    now = time.time()
    return {
        "id": workflow_id,
        "name": "test",
        "state": "pending",
        "inputs": {},
        "priority": "normal",
        "deadline": now + 60,
        "created_at": now,
        "updated_at": now,
    }


def _run_together(target: Callable[..., None], *args_per_process: tuple[Any, ...]) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args_per_process))
    procs = [ctx.Process(target=target, args=(*args, barrier)) for args in args_per_process]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=90)
    assert [proc.exitcode for proc in procs] == [0] * len(procs)


# -- fresh, unmigrated databases -----------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    factory: Callable[[], str] = request.getfixturevalue("postgres_databases")
    return factory()


def _differences(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))


def _names(engine: sa.Engine) -> dict[str, set[str | None]]:
    """Constraint and index names per table (compare_metadata matches some of them by columns only)."""
    inspector = sa.inspect(engine)
    out: dict[str, set[str | None]] = {}
    for table in metadata.sorted_tables:
        out[table.name] = (
            {inspector.get_pk_constraint(table.name)["name"]}
            | {fk["name"] for fk in inspector.get_foreign_keys(table.name)}
            | {uc["name"] for uc in inspector.get_unique_constraints(table.name)}
            # PostgreSQL also lists the index behind each unique constraint
            | {ix["name"] for ix in inspector.get_indexes(table.name) if not ix.get("duplicates_constraint")}
        )
    return out


# -- migrations ----------------------------------------------------------------------------------------
def test_migrations_create_exactly_the_schema(empty_url: str) -> None:
    engine = db.connect(empty_url)
    try:
        assert db.current_revision(engine) is None
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision() == "0003"
        assert _differences(engine) == []
        expected = {
            table.name: {table.primary_key.name}
            | {fk.name for fk in table.foreign_key_constraints}
            | {ix.name for ix in table.indexes}
            | {uc.name for uc in table.constraints if isinstance(uc, sa.UniqueConstraint)}
            for table in metadata.sorted_tables
        }
        assert _names(engine) == expected
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(sa.insert(workflows).values(_workflow_row("kept")))
    db.upgrade(db_engine)
    db.upgrade(db_engine, "0001")
    assert db.current_revision(db_engine) == db.head_revision()
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(workflows.c.id)).scalars().all() == ["kept"]


@pytest.mark.slow
def test_open_database_from_two_processes_at_once(empty_url: str) -> None:
    _run_together(_open_after, (empty_url,), (empty_url,))
    engine = db.connect(empty_url)
    try:
        assert db.current_revision(engine) == db.head_revision()
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_open_database_waits_for_a_long_upgrade_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write lock held longer than busy_timeout (another process migrating) is waited out."""
    monkeypatch.setattr(db, "_BUSY_TIMEOUT_MS", 300)
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    holder = db.connect(url)
    conn = holder.connect()
    conn.begin()  # BEGIN IMMEDIATE: the write lock
    release = threading.Timer(0.8, conn.rollback)
    release.start()
    try:
        engine = db.open_database(url)
        assert db.current_revision(engine) == db.head_revision()
        engine.dispose()
    finally:
        release.join()
        conn.close()
        holder.dispose()


def test_upgrade_failure_is_a_database_error(tmp_path: Path) -> None:
    engine = db.connect(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(StorageError, match="'nope'"):
            db.upgrade(engine, "nope")
    finally:
        engine.dispose()


# -- the database contract, on both backends --------------------------------------------------------
def test_foreign_keys_are_enforced_and_cascade(db_engine: sa.Engine) -> None:
    step = {"workflow_id": "w1", "name": "probe", "kind": "task", "state": "waiting"}
    with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as conn:
        conn.execute(sa.insert(steps).values(step))
    with db_engine.begin() as conn:
        conn.execute(sa.insert(workflows).values(_workflow_row("w1")))
        conn.execute(sa.insert(steps).values(step))
        conn.execute(sa.delete(workflows))
        assert conn.execute(sa.select(sa.func.count()).select_from(steps)).scalar_one() == 0


def test_database_url_is_empty_per_test(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(workflows)).scalar_one() == 0
        conn.execute(sa.insert(workflows).values(_workflow_row("left-behind")))


def test_json_round_trips(db_engine: sa.Engine) -> None:
    row = _workflow_row("j") | {"inputs": {"asset": "a1", "sizes": [240, 1080], "hdr": True}}
    with db_engine.begin() as conn:
        conn.execute(sa.insert(workflows).values(row))
    with db.read_only(db_engine).connect() as conn:
        assert conn.execute(sa.select(workflows.c.inputs)).scalar_one() == row["inputs"]


def test_a_savepoint_undoes_only_its_block_and_the_transaction_goes_on(db_engine: sa.Engine) -> None:
    names = sa.select(workflows.c.id).order_by(workflows.c.id)
    with db_engine.begin() as conn:
        conn.execute(sa.insert(workflows).values(_workflow_row("before")))
        with db.savepoint(conn):
            conn.execute(sa.insert(workflows).values(_workflow_row("kept")))
        with pytest.raises(sa.exc.IntegrityError), db.savepoint(conn):
            conn.execute(sa.insert(workflows).values(_workflow_row("undone")))
            conn.execute(sa.insert(workflows).values(_workflow_row("before")))  # a duplicate key: the block fails
        with pytest.raises(KeyError), db.savepoint(conn):  # any exception, not only the database's
            conn.execute(sa.insert(workflows).values(_workflow_row("undone too")))
            raise KeyError("x")
        conn.execute(sa.insert(workflows).values(_workflow_row("after")))
    with db_engine.connect() as conn:
        assert conn.execute(names).scalars().all() == ["after", "before", "kept"]


def test_a_snapshot_sees_one_state_and_streams_rows(db_engine: sa.Engine) -> None:
    names = sa.select(workflows.c.id).order_by(workflows.c.id)
    with db_engine.begin() as conn:
        conn.execute(sa.insert(workflows), [_workflow_row(f"w{i}") for i in range(3)])
    with db.snapshot(db_engine).begin() as conn:
        streamed = conn.execute(names.execution_options(yield_per=2)).scalars().all()  # a server-side cursor
        with db_engine.begin() as other:  # committed meanwhile: not in this snapshot
            other.execute(sa.insert(workflows).values(_workflow_row("w9")))
        assert streamed == conn.execute(names).scalars().all() == ["w0", "w1", "w2"]
    with db.snapshot(db_engine).connect() as conn:
        assert conn.execute(names).scalars().all() == ["w0", "w1", "w2", "w9"]


# -- SQLite ------------------------------------------------------------------------------------------
def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as conn:
            pragma = conn.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA busy_timeout").scalar() == 10_000
    finally:
        engine.dispose()


def test_sqlite_readers_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with engine.connect() as writer:
            writer.begin()  # BEGIN IMMEDIATE: holds the write lock until the end of the block
            writer.execute(sa.insert(workflows).values(_workflow_row("uncommitted")))
            start = time.monotonic()
            with db.read_only(engine).connect() as reader:
                assert reader.execute(sa.select(sa.func.count()).select_from(workflows)).scalar_one() == 0
            assert time.monotonic() - start < 1.0
            writer.rollback()
    finally:
        engine.dispose()


@pytest.mark.slow
def test_sqlite_concurrent_writers_never_see_database_is_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = db.open_database(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(workflows).values(_workflow_row("shared")))
    _run_together(_writer, (url, 0), (url, 1))
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(workflows)).scalar_one() == 1 + 2 * WRITES_PER_PROCESS
        )
        shared = conn.execute(sa.select(workflows.c.version).where(workflows.c.id == "shared")).scalar_one()
        assert shared == 2 * WRITES_PER_PROCESS  # no lost updates
    engine.dispose()


def test_sqlite_in_memory_is_one_shared_database() -> None:
    engine = db.open_database("sqlite://")
    try:
        assert isinstance(engine.pool, StaticPool)
        with engine.begin() as conn:
            conn.execute(sa.insert(workflows).values(_workflow_row("m")))
        with engine.connect() as conn:
            assert conn.execute(sa.select(workflows.c.id)).scalar_one() == "m"
    finally:
        engine.dispose()


# -- URLs --------------------------------------------------------------------------------------------
def test_default_url_is_sqlite_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    engine = db.connect(home=home)
    assert home.is_dir()
    assert engine.url.drivername == "sqlite"
    assert engine.url.database == str(home / "darkroom.db")
    engine.dispose()
    settings_engine = db.from_settings(Settings(home=home))
    assert settings_engine.url == engine.url
    settings_engine.dispose()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///relative/x.db", "sqlite"),
        ("sqlite:////abs/x.db", "sqlite"),
        ("sqlite://", "sqlite"),
        ("postgresql://u:pw@db.example:5433/darkroom", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db.example/darkroom?sslmode=require", "postgresql+psycopg"),
    ],
)
def test_good_urls(url: str, driver: str) -> None:
    engine = db.connect(url)  # lazy: nothing is opened yet
    assert engine.url.drivername == driver
    engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:s3cr3t@host/db",
        "postgres://u:s3cr3t@host/db",
        "postgresql+psycopg2://u:s3cr3t@host/db",
        "sqlite://u:s3cr3t@host/file.db",
        "redis://:s3cr3t@localhost:6379/0",
        "://u:s3cr3t@host",
        "postgresql://u:s3cr3t@host:notaport/db",
    ],
)
def test_bad_urls_are_rejected_without_the_password(url: str) -> None:
    with pytest.raises(InvalidStorageUrl) as info:
        db.connect(url)
    assert isinstance(info.value, ValueError)
    assert "s3cr3t" not in str(info.value)
    assert "***" in str(info.value)


def test_redact_url() -> None:
    assert db.redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert db.redact_url("postgresql://u:p@ss@h/db?sslmode=require") == "postgresql://u:***@h/db?sslmode=require"
    assert db.redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert db.redact_url("sqlite:///x.db") == "sqlite:///x.db"


# -- CLI ---------------------------------------------------------------------------------------------
def test_cli_upgrade_and_current(tmp_path: Path) -> None:
    from darkroom.cli.db import app

    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    before = runner.invoke(app, ["current", "--url", url])
    assert before.exit_code == 0, before.output
    assert "none" in before.output
    upgraded = runner.invoke(app, ["upgrade", "--url", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert "0003" in upgraded.output
    current = runner.invoke(app, ["current", "--url", url, "--json"])
    assert current.exit_code == 0, current.output
    assert '"current": "0003"' in current.output
    bad = runner.invoke(app, ["current", "--url", "mysql://u:s3cr3t@h/db"])
    assert bad.exit_code == 1
    assert "s3cr3t" not in bad.output


def _kill_backends(url: str, application_name: str) -> int:
    import psycopg

    libpq = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [application_name]
        ).fetchall()
    return len(rows)


def test_an_idle_postgres_connection_that_died_is_replaced_unseen(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.connect(f"{postgres_url}?application_name=darkroom_idle_test")
    try:
        with db.read_only(engine).connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
        assert _kill_backends(postgres_url, "darkroom_idle_test") == 1  # the pooled connection dies
        monkeypatch.setattr(db, "_PING_AFTER_IDLE_S", 0.0)  # as if it had sat idle: checked at checkout
        with db.read_only(engine).connect() as conn:
            assert conn.execute(sa.text("SELECT 2")).scalar() == 2  # a fresh connection, no error
    finally:
        engine.dispose()


def test_a_postgres_connection_used_moments_ago_is_not_pinged_and_a_dead_one_fails_once(postgres_url: str) -> None:
    engine = db.connect(f"{postgres_url}?application_name=darkroom_busy_test")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert _kill_backends(postgres_url, "darkroom_busy_test") == 1
        with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))  # no round trip at checkout: the dead socket shows here
        with engine.connect() as conn:  # the error invalidated the pool: the next one reconnects
            assert conn.execute(sa.text("SELECT 3")).scalar() == 3
    finally:
        engine.dispose()
