"""The platform's health as a list of checks, each ok, warn or fail with a line saying why: Redis
(reachable, memory, eviction policy, clients, persistence, from one ``INFO``), the metadata
database, and the workers that announced themselves (``runtime.directory``).

What the operator page ``/ops/health`` shows; the Redis health collector and alert rules of the
observability work add their checks here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa

from darkroom.runtime.directory import ANNOUNCE_TTL_S, WorkerDirectory
from darkroom.storage.db import read_only

__all__ = ["MEMORY_FAIL", "MEMORY_WARN", "Check", "Status", "database_check", "platform_health", "redis_checks"]

MEMORY_WARN = 0.80  # of maxmemory: the queue's writes start failing (noeviction) at 100 %
MEMORY_FAIL = 0.95
CLIENTS_WARN = 0.80  # of maxclients


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the health page: what was checked, how it stands, and why."""

    name: str
    status: Status
    detail: str


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _uptime(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def _memory(info: Mapping[str, Any]) -> Check:
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    if limit <= 0:
        return Check("Redis memory", Status.OK, f"{_mib(used)} used, no maxmemory limit")
    ratio = used / limit
    status = Status.FAIL if ratio >= MEMORY_FAIL else Status.WARN if ratio >= MEMORY_WARN else Status.OK
    return Check("Redis memory", status, f"{_mib(used)} of {_mib(limit)} used ({ratio:.0%})")


def _eviction(info: Mapping[str, Any]) -> Check:
    policy = str(info.get("maxmemory_policy", "unknown"))
    if policy == "noeviction":
        return Check("Redis eviction policy", Status.OK, "noeviction: a full Redis refuses writes, loses nothing")
    return Check("Redis eviction policy", Status.WARN, f"{policy}: queue messages and leases may be evicted")


def _clients(info: Mapping[str, Any]) -> Check:
    connected, blocked = int(info.get("connected_clients", 0)), int(info.get("blocked_clients", 0))
    limit = int(info.get("maxclients", 0))
    detail = f"{connected} connected, {blocked} blocked" + (f", {limit} at most" if limit else "")
    rejected = int(info.get("rejected_connections", 0))
    if rejected:
        return Check("Redis clients", Status.WARN, f"{detail}; {rejected} connections refused since start")
    near = limit > 0 and connected >= CLIENTS_WARN * limit
    return Check("Redis clients", Status.WARN if near else Status.OK, detail)


def _persistence(info: Mapping[str, Any]) -> Check:
    failed = [k for k in ("rdb_last_bgsave_status", "aof_last_write_status") if info.get(k, "ok") != "ok"]
    aof = "AOF on" if int(info.get("aof_enabled", 0)) else "AOF off"
    if failed:
        return Check("Redis persistence", Status.FAIL, f"{aof}; last write failed: {', '.join(failed)}")
    return Check("Redis persistence", Status.OK, f"{aof}; last snapshot and writes ok")


def redis_checks(client: redis.Redis) -> list[Check]:
    """Reachable, then memory, eviction policy, clients and persistence, from one ``INFO``."""
    try:
        info: dict[str, Any] = client.info()
    except (redis.RedisError, OSError) as exc:
        return [Check("Redis reachable", Status.FAIL, f"unreachable: {exc}")]
    up = _uptime(int(info.get("uptime_in_seconds", 0)))
    reachable = Check("Redis reachable", Status.OK, f"Redis {info.get('redis_version', '?')}, up {up}")
    return [reachable, _memory(info), _eviction(info), _clients(info), _persistence(info)]


def database_check(engine: sa.Engine) -> Check:
    """The metadata database answers a ``SELECT 1``."""
    try:
        with read_only(engine).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        return Check("Database reachable", Status.FAIL, f"{engine.dialect.name}: {type(exc).__name__}")
    return Check("Database reachable", Status.OK, engine.dialect.name)


def workers_check(directory: WorkerDirectory) -> Check:
    """At least one worker announced itself within the last :data:`ANNOUNCE_TTL_S`."""
    try:
        live = directory.live()
    except (redis.RedisError, OSError) as exc:
        return Check("Workers", Status.FAIL, f"the directory could not be read: {exc}")
    if not live:
        return Check("Workers", Status.WARN, f"no worker announced itself in the last {ANNOUNCE_TTL_S:.0f} s")
    hosts = {w.host for w in live if w.host}
    queues = sorted({q for w in live for q in w.queues})
    detail = f"{len(live)} live on {len(hosts)} host{'s' if len(hosts) != 1 else ''}, serving {', '.join(queues)}"
    return Check("Workers", Status.OK, detail)


def platform_health(client: redis.Redis, engine: sa.Engine, workers: WorkerDirectory | None) -> list[Check]:
    """Every check, in the page's order (the workers only when the platform's queue is known)."""
    checks = redis_checks(client) + [database_check(engine)]
    if workers is not None:
        checks.append(workers_check(workers))
    return checks
