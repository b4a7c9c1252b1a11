"""Shared fixtures: a real redis-server, and metadata databases (SQLite, PostgreSQL).

``DARKROOM_TEST_REDIS_URL`` points the suite at an existing server; otherwise one private
redis-server is started per session under a temporary directory. Without redis-server the tests
that need it skip locally and fail in CI (``CI`` set). The database fixtures are at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis

import darkroom.queue as dq
from darkroom.local.redis_server import RedisServer

if TYPE_CHECKING:
    from sqlalchemy import Engine


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | None]:
    if os.environ.get("DARKROOM_TEST_REDIS_URL"):
        yield None
        return
    if shutil.which("redis-server") is None:
        _missing("redis-server is not installed")
    server = RedisServer(root=Path(tmp_path_factory.mktemp("redis")), appendfsync="always")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer | None) -> str:
    return os.environ.get("DARKROOM_TEST_REDIS_URL") or (redis_server.url if redis_server else "")


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        _missing(f"redis at the test URL is unreachable: {exc}")
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def rq(redis_client: redis.Redis) -> Iterator[dq.RedisQueue]:
    """A queue client straight on Redis, on a flushed database."""
    q = dq.RedisQueue(redis_client)
    yield q
    q.close()


# -- metadata database -----------------------------------------------------------------------------
# ``DARKROOM_TEST_POSTGRES_URL`` (any database on the server; the suite creates its own) points the
# suite at PostgreSQL; otherwise the local server with trust auth. Unreachable: skip locally, fail in CI.
_LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_BACKENDS = ["sqlite", "postgresql"]


def _libpq_url(url: str, database: str | None = None) -> str:
    """``url`` for psycopg (no ``+driver``), optionally naming another database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases (``darkroom_test_<random>``), dropped at the end."""
    import uuid

    import psycopg

    from darkroom.storage.db import redact_url

    server_url = _libpq_url(os.environ.get("DARKROOM_TEST_POSTGRES_URL") or _LOCAL_POSTGRES_URL)
    try:
        admin = psycopg.connect(server_url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _missing(f"PostgreSQL is unreachable at {redact_url(server_url)}: {exc}".strip())
    created: list[str] = []

    def create() -> str:
        name = f"darkroom_test_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _libpq_url(server_url, name)

    yield create
    for name in created:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: Callable[[], str]) -> str:
    """The session's PostgreSQL database; ``database_url`` migrates it and empties it per test."""
    return postgres_databases()


@pytest.fixture(scope="session")
def _postgres_migrated(postgres_url: str) -> Iterator[tuple[str, Any]]:
    """The session database migrated once, and an autocommit connection that empties it."""
    import psycopg

    from darkroom.storage.db import open_database

    url = postgres_url
    open_database(url).dispose()
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET lock_timeout = '10s'")  # a test that leaked a transaction fails instead of hanging
    yield url, conn
    conn.close()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (cheaper than migrating each time)."""
    from darkroom.storage.db import open_database

    path = tmp_path_factory.mktemp("sqlite-template") / "darkroom.db"
    open_database(f"sqlite:///{path}").dispose()  # closing the last connection checkpoints the WAL
    return path


@pytest.fixture(params=DATABASE_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty metadata database per test: a SQLite file in ``tmp_path``, or the
    session's PostgreSQL database with every table truncated."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        target = tmp_path / "darkroom.db"
        for suffix in ("", "-wal"):
            if Path(f"{template}{suffix}").exists():
                shutil.copyfile(f"{template}{suffix}", f"{target}{suffix}")
        return f"sqlite:///{target}"
    from darkroom.storage.schema import metadata

    url, conn = request.getfixturevalue("_postgres_migrated")
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return str(url)


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    """An Engine on ``database_url``, opened as processes do (connect, upgrade); disposed after."""
    from darkroom.storage.db import open_database

    engine = open_database(database_url)
    yield engine
    engine.dispose()
