"""Shared fixtures: a real redis-server for every test that needs one.

``DARKROOM_TEST_REDIS_URL`` points the suite at an existing server; otherwise one private
redis-server is started per session under a temporary directory. Without redis-server the tests
that need it skip locally and fail in CI (``CI`` set).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import darkroom.queue as dq
from darkroom.local.redis_server import RedisServer


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
