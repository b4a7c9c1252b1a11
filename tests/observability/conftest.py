"""A private redis-server per test for the health checks: each test provokes a real cause
(a tiny maxmemory, a low maxclients, ``DEBUG SLEEP``, a failing BGSAVE) on a server of its own,
so no setting leaks into the session's shared Redis. ``DEBUG`` is allowed over the unix socket
(``enable-debug-command local``), and so is changing its ``dir`` (``enable-protected-configs
local``); the project's server leaves both off.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from darkroom.config import Settings
from darkroom.local.redis_server import RedisServer
from darkroom.observability import RedisSampler
from darkroom.platform.health import key_layout

DEADLINE_S = 15.0
TEST_CONFIG = ("enable-debug-command local", "enable-protected-configs local", "appendfsync no")


def wait_until(check: Callable[[], object], what: str, timeout_s: float = DEADLINE_S) -> None:
    """Bounded wait for a condition (polls state; never used to order events)."""
    give_up = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Health:
    """One private server, an admin client on it, and samplers over it (closed at the end)."""

    server: RedisServer
    admin: redis.Redis
    _opened: list[RedisSampler | redis.Redis] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def sampler(self, **options: object) -> RedisSampler:
        sampler = RedisSampler.from_url(self.url, layout=key_layout(Settings()))
        for name, value in options.items():
            setattr(sampler, name, value)
        self._opened.append(sampler)
        return sampler

    def client(self, name: str | None = None) -> redis.Redis:
        c = redis.Redis.from_url(self.url, client_name=name)
        self._opened.append(c)
        return c

    def info(self, section: str) -> dict[str, object]:
        return dict(self.admin.info(section))

    def close(self) -> None:
        for item in self._opened:
            item.close()
        self.admin.close()


def start_server(root: Path, *extra: str, tcp_port: int | None = None) -> RedisServer:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    return RedisServer(root=root, tcp_port=tcp_port, extra_config=TEST_CONFIG + extra).start()


def open_health(tmp_path: Path) -> Iterator[Health]:
    """The ``health`` fixture's body (tests/cli uses it too)."""
    server = start_server(tmp_path / "redis")
    h = Health(server, redis.Redis.from_url(server.url))
    yield h
    h.close()
    server.stop()


@pytest.fixture
def health(tmp_path: Path) -> Iterator[Health]:
    yield from open_health(tmp_path)
