"""Shared fixtures: a real redis-server, metadata databases (SQLite, PostgreSQL), and blob stores
(a local directory, and S3 on moto's standalone server with dummy credentials).

``DARKROOM_TEST_REDIS_URL`` points the suite at an existing server; otherwise one private
redis-server is started per session under a temporary directory. Without redis-server the tests
that need it skip locally and fail in CI (``CI`` set). The database fixtures, then the
blob stores, are at the end.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis
import pytest
import redis

import darkroom.queue as dq
from darkroom.local.redis_server import RedisServer
from darkroom.storage.blobs import BlobStore, LocalBlobs, S3Blobs, make_s3_client

if TYPE_CHECKING:
    from sqlalchemy import Engine


# No per-example deadline: timing belongs in bench/, and under xdist a core is shared, so a slow
# example says nothing about the code (a test's own settings may still set one).
hypothesis.settings.register_profile("darkroom", deadline=None)
hypothesis.settings.load_profile("darkroom")


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


@pytest.fixture(autouse=True)
def _fast_argon2() -> Iterator[None]:
    """Every test hashes passwords with argon2id's cheapest sound profile: production's costs 64 MiB
    and about 0.3 s a hash, which would turn each sign-up in a test into a benchmark."""
    from darkroom.social import passwords

    previous = passwords.configure(passwords.FAST_FOR_TESTS)
    yield
    passwords.configure(previous)


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


# -- blob stores ---------------------------------------------------------------------------------
def _dummy_aws_env(mp: pytest.MonkeyPatch, scratch: Path) -> None:
    """Fake credentials only: no profile, config file or instance metadata can reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_CONFIG_FILE", str(scratch / "no-aws-config"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "no-aws-credentials"))
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto standalone server subprocess; port 0 lets the OS pick a free port, read from its banner."""
    if importlib.util.find_spec("moto.server") is None:
        _missing("moto[server] is not installed")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # keeps reading so the request log never fills the pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()  # the server exited

    threading.Thread(target=drain, name="moto-log", daemon=True).start()
    if not ready.wait(60) or not found:
        proc.kill()
        proc.wait()
        _missing("moto's standalone server did not start")
    yield found[0]
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def s3_client(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        _dummy_aws_env(mp, tmp_path_factory.mktemp("aws"))
        client = make_s3_client(endpoint_url=moto_url)
    try:
        client.list_buckets()
    except Exception as exc:
        _missing(f"moto's standalone server does not answer: {exc}")
    return client


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"darkroom-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _dummy_aws_env(monkeypatch, tmp_path)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobs(tmp_path / "blobs")
    client = request.getfixturevalue("s3_client")
    return S3Blobs(request.getfixturevalue("bucket"), "media/test", client=client)
