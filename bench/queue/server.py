"""The private redis-server of a benchmark run, and the counters read from it."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from darkroom.local.redis_server import RedisServer

__all__ = ["BenchRedis", "Counters", "wait_aof_rewrite"]

# Commands the harness itself sends while a phase is measured; not the system's work.
_OWN = {"info", "config|resetstat", "ping"}


@dataclass(frozen=True)
class Counters:
    calls: dict[str, int]
    usec: dict[str, int]
    cpu_s: float

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            {k: v - other.calls.get(k, 0) for k, v in self.calls.items() if v != other.calls.get(k, 0)},
            {k: v - other.usec.get(k, 0) for k, v in self.usec.items() if v != other.usec.get(k, 0)},
            self.cpu_s - other.cpu_s,
        )

    @property
    def total_calls(self) -> int:
        """Commands the server executed, those run inside Lua scripts included."""
        return sum(v for k, v in self.calls.items() if k not in _OWN)


def wait_aof_rewrite(client: redis.Redis, timeout_s: float = 120.0) -> None:
    """Return once no AOF rewrite runs or is scheduled (or after ``timeout_s``)."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        info = client.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BenchRedis:
    """A fresh ``RedisServer`` (password, AOF with appendfsync everysec) listening on TCP too."""

    def __init__(self, root: Path) -> None:
        self.server = RedisServer(root=root, tcp_port=_free_port(), appendfsync="everysec")
        self._client: redis.Redis | None = None

    def start(self) -> BenchRedis:
        self.server.start()
        self._client = redis.Redis.from_url(self.server.tcp_url)
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.tcp_url

    @property
    def port(self) -> int:
        assert self.server.tcp_port is not None
        return self.server.tcp_port

    @property
    def password(self) -> str:
        return self.server.password

    @property
    def client(self) -> redis.Redis:
        assert self._client is not None, "start() first"
        return self._client

    def version(self) -> str:
        return str(self.client.info("server")["redis_version"])

    def flush(self) -> None:
        """Empty the server and compact its AOF, so no rewrite starts in the next phase."""
        self.client.flushall()
        self.wait_aof_rewrite()
        self.client.bgrewriteaof()
        time.sleep(0.05)
        self.wait_aof_rewrite()

    def wait_aof_rewrite(self) -> None:
        wait_aof_rewrite(self.client)

    def counters(self) -> Counters:
        stats = self.client.info("commandstats")
        cpu = self.client.info("cpu")
        calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}
        usec = {k.removeprefix("cmdstat_"): int(v["usec"]) for k, v in stats.items()}
        return Counters(calls, usec, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]))
