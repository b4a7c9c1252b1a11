"""The metadata database: SQLite (default, one file under ``home``) or PostgreSQL, migrated by Alembic.

Every process calls :func:`open_database` at start: it connects and upgrades the schema to the
newest migration, safely when several processes start at once. ``docs/storage.md`` explains the
SQLite settings and how to add a migration.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from darkroom.config import Settings
from darkroom.home import private_home
from darkroom.storage.errors import DatabaseError, InvalidStorageUrl

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "MIGRATIONS_DIR",
    "connect",
    "current_revision",
    "from_settings",
    "head_revision",
    "new_revision",
    "open_database",
    "read_only",
    "redact_url",
    "savepoint",
    "snapshot",
    "sqlite_begin",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_SQLITE_FILE = "darkroom.db"
_BUSY_TIMEOUT_MS = 10_000
_SQLITE_UPGRADE_ATTEMPTS = 6  # open_database waits up to this many busy timeouts for a running upgrade
_BEGIN_OPTION = "darkroom_sqlite_begin"  # execution option read by _sqlite_begin
_BEGINS = {kind: f"BEGIN {kind}" for kind in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE")}
_UPGRADE_LOCK_KEY = 0x6461726B726F6F6D  # pg_advisory_xact_lock key of schema upgrades ("darkroom")
_URL_HELP = "use sqlite:///path/to/file.db, sqlite:// (in memory) or postgresql://user:password@host:port/db"


def redact_url(url: str | URL) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")  # the last "@": a password may hold an unescaped one
    user, colon, _password = userinfo.partition(":")
    if sep and at and colon:
        return f"{scheme}://{user}:***@{host}"
    return url


def connect(url: str = "", *, home: Path = Path(".darkroom")) -> Engine:
    """An Engine for ``url``; ``""`` is SQLite at ``home/darkroom.db`` (the directory is created).

    Does not touch the database yet; :func:`open_database` also migrates it.
    """
    if url:
        parsed = _parse(url)
    else:
        private_home(home)
        parsed = URL.create("sqlite", database=str(home / _SQLITE_FILE))
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return _postgres_engine(parsed)


def from_settings(settings: Settings) -> Engine:
    """:func:`connect` to ``settings.database_url`` (SQLite under ``settings.home`` when empty)."""
    return connect(settings.database_url, home=settings.home)


def open_database(target: Settings | str = "") -> Engine:
    """Connect and upgrade the schema to the newest migration: what every process calls at start."""
    engine = from_settings(target) if isinstance(target, Settings) else connect(target)
    try:
        for attempt in range(_SQLITE_UPGRADE_ATTEMPTS):
            try:
                upgrade(engine)
                break
            except DatabaseError as exc:
                # Another process may hold the SQLite write lock longer than busy_timeout (a long
                # migration): wait again. PostgreSQL's advisory lock waits as long as it takes.
                locked = isinstance(exc.__cause__, sa.exc.OperationalError) and "locked" in str(exc.__cause__)
                if not (locked and engine.dialect.name == "sqlite") or attempt == _SQLITE_UPGRADE_ATTEMPTS - 1:
                    raise
    except BaseException:
        engine.dispose()
        raise
    return engine


def read_only(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) for transactions that only read.

    On SQLite they begin DEFERRED, so they do not queue behind writers (WAL readers never block).
    On PostgreSQL each statement runs on its own (autocommit): at READ COMMITTED, PostgreSQL's
    default, every statement of a transaction takes a fresh snapshot anyway, so a reading
    transaction adds nothing but its ``BEGIN`` and ``COMMIT``, two round trips (a request's reads
    were 9 queries on the server for 3 statements).
    """
    view = getattr(engine, _READ_ONLY_VIEW, None)
    if view is None:  # made once per engine (kept on it): every request asks, and a view costs ~50 µs
        if engine.dialect.name == "sqlite":
            view = engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
        else:
            view = engine.execution_options(isolation_level="AUTOCOMMIT")
        setattr(engine, _READ_ONLY_VIEW, view)
    assert isinstance(view, Engine)
    return view


_READ_ONLY_VIEW = "_darkroom_read_only_view"
_SNAPSHOT_VIEW = "_darkroom_snapshot_view"


def snapshot(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) for a long read that must see one state of the data from
    its first statement to its last (an export): on PostgreSQL a ``REPEATABLE READ`` transaction,
    a real one (so it can stream rows through a server-side cursor, which autocommit cannot); on
    SQLite a DEFERRED one, whose WAL snapshot holds from its first read."""
    view = getattr(engine, _SNAPSHOT_VIEW, None)
    if view is None:
        if engine.dialect.name == "sqlite":
            view = read_only(engine)
        else:
            view = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        setattr(engine, _SNAPSHOT_VIEW, view)
    assert isinstance(view, Engine)
    return view


@contextmanager
def savepoint(conn: sa.Connection) -> Iterator[None]:
    """A savepoint inside ``conn``'s transaction: an exception from the block undoes the block's
    writes only (and is raised on), the transaction stays usable.

    The statements go to the driver's cursor, not through ``Connection.begin_nested``: SQLAlchemy's
    savepoint compiles and executes a construct for each of SAVEPOINT and RELEASE, which was a fifth
    of a workflow pass's CPU (one savepoint per run of a pass). SQLAlchemy does not see this
    savepoint, so the block must not commit or roll back ``conn`` itself.
    """
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("SAVEPOINT darkroom_block")
        try:
            yield
        except BaseException:
            cursor.execute("ROLLBACK TO SAVEPOINT darkroom_block")
            cursor.execute("RELEASE SAVEPOINT darkroom_block")
            raise
        cursor.execute("RELEASE SAVEPOINT darkroom_block")
    finally:
        cursor.close()


# -- migrations ------------------------------------------------------------------------------------
def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the schema to ``revision``; a no-op when already there. Safe to run concurrently.

    All migrations run in one transaction that first takes the database's write lock (SQLite:
    ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so a second process
    waits, then finds the schema current.
    """
    from alembic import command
    from alembic.util import CommandError

    config = _alembic_config()
    try:
        with _migration_connection(engine) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except (sa.exc.SQLAlchemyError, CommandError) as exc:
        raise DatabaseError(f"upgrading {redact_url(engine.url)} to {revision!r} failed: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    """The schema's migration revision, ``None`` before the first upgrade."""
    from alembic.runtime.migration import MigrationContext

    try:
        with read_only(engine).connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"reading the schema revision of {redact_url(engine.url)} failed: {exc}") from exc


def head_revision() -> str | None:
    """The newest migration shipped with this version of darkroom."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def new_revision(message: str) -> Path:
    """Write the next migration (``versions/NNNN_<message>.py``), autogenerated from the difference
    between ``schema.py`` and an in-memory SQLite database at head. Review and tidy it before use."""
    from alembic import command

    head = head_revision()
    config = _alembic_config()
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    engine = connect("sqlite://")
    try:
        upgrade(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            script = command.revision(config, message, autogenerate=True, rev_id=f"{int(head or '0') + 1:04d}")
    finally:
        engine.dispose()
    if script is None or isinstance(script, list):  # pragma: no cover - single head, single script
        raise DatabaseError(f"alembic wrote no single revision for {message!r}")
    return Path(script.path)


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[sa.Connection]:
    """A connection inside the transaction that serializes upgrades (see :func:`upgrade`)."""
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_UPGRADE_LOCK_KEY)))
                yield connection
            return
        # SQLite batch migrations recreate tables (copy, drop, rename); with foreign keys on, the DROP
        # would cascade-delete child rows. The pragma is a no-op inside a transaction, so it is set on
        # the driver connection before BEGIN, and the keys are checked before COMMIT instead.
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise DatabaseError(f"the migration leaves rows with dangling foreign keys: {broken[:5]}")
        finally:
            driver.execute("PRAGMA foreign_keys=ON")


# -- engines ---------------------------------------------------------------------------------------
def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise InvalidStorageUrl(f"{redact_url(url)!r} is not a database URL: {_URL_HELP}") from None
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if parsed.host or parsed.username or parsed.password or parsed.port:
            raise InvalidStorageUrl(
                f"database URL {redact_url(url)!r} names a host; SQLite takes a path after three slashes: {_URL_HELP}"
            )
        return parsed.set(drivername="sqlite")
    if parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise InvalidStorageUrl(f"database URL {redact_url(url)!r} has an unsupported scheme: {_URL_HELP}")


def _sqlite_engine(url: URL) -> Engine:
    if url.database in (None, "", ":memory:"):
        # One shared connection: each new connection to ":memory:" would be a new, empty database.
        engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = sa.create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy emit BEGIN (below) instead of the sqlite3 module, which begins only before DML:
    # its reads would run outside the transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")  # wait for the write lock, not fail
        cursor.execute("PRAGMA journal_mode=WAL")  # readers and the one writer do not block each other
        cursor.execute("PRAGMA synchronous=NORMAL")  # in WAL: consistent; a power cut may lose the last commits
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def sqlite_begin(connection: sa.Connection) -> str | None:
    """The ``BEGIN`` a transaction on ``connection`` (SQLite) sends, None in autocommit.

    IMMEDIATE takes the write lock up front. A DEFERRED transaction that reads, then writes, must
    upgrade its lock; if another connection committed meanwhile SQLite fails it at once with
    SQLITE_BUSY (busy_timeout cannot help: waiting would not make its snapshot current).
    """
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return None
    return _BEGINS[options.get(_BEGIN_OPTION, "IMMEDIATE")]


def _sqlite_begin(connection: sa.Connection) -> None:
    statement = sqlite_begin(connection)
    if statement is None:
        return
    # On the driver's connection: through ``exec_driver_sql`` the BEGIN cost ~60 µs of Python, once
    # per transaction (the sqlite3 module in autocommit mode leaves transactions to us). SQLAlchemy's
    # statement events do not see it; a listener of the engine's "begin" event can ask sqlite_begin.
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    try:
        driver.execute(statement)
    except sqlite3.Error as exc:  # as SQLAlchemy would have raised it ("database is locked": OperationalError)
        raise sa.exc.DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def _postgres_engine(url: URL) -> Engine:
    connect_args = {
        key: value
        for key, value in {"connect_timeout": 10, "application_name": "darkroom"}.items()
        if key not in url.query
    }
    engine = sa.create_engine(
        url,
        # kept connections: past them each one is opened and closed again, a backend forked per
        # request when a busy HTTP worker has more in flight (docs/storage.md)
        pool_size=10,
        max_overflow=10,
        pool_recycle=1800,
        connect_args=connect_args,
    )
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


# A connection back from the pool is checked with a round trip only when it sat idle this long: a
# dropped idle connection (a restarted server, a firewall's timeout) then costs a reconnect, not an
# error. SQLAlchemy's pool_pre_ping pings at every checkout, a round trip per transaction; one used
# moments ago is alive, and if the server died meanwhile the first error invalidates the whole pool.
_PING_AFTER_IDLE_S = 10.0
_CHECKED_IN = "darkroom_checked_in"


def _note_checkin(_dbapi_connection: object, record: ConnectionPoolEntry) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object) -> None:
    since = record.info.get(_CHECKED_IN)
    if since is None or time.monotonic() - since < _PING_AFTER_IDLE_S:
        return  # new, or used moments ago
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # the ping's own transaction (the connection is not autocommit)
    except Exception as exc:  # whatever the driver raises for a dead socket: reconnect
        raise sa.exc.DisconnectionError(f"an idle connection is gone: {exc}") from exc
