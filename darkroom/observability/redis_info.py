"""Redis ``INFO`` as typed records: the fields the checks and metrics read, by section.

``INFO all`` (one command) holds every section the health collector needs, ``commandstats`` and
``latencystats`` included. Field names are Redis 7.0's; a field an older or a managed server
leaves out reads as 0 or "" rather than failing the sample (docs/observability.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Clients",
    "CommandStat",
    "Cpu",
    "DbKeys",
    "Info",
    "Memory",
    "Persistence",
    "Replica",
    "Replication",
    "Stats",
    "parse_info",
]


def _fields(line_value: str) -> dict[str, str]:
    """``calls=3,usec=20`` -> ``{"calls": "3", "usec": "20"}``."""
    out: dict[str, str] = {}
    for part in line_value.split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    return out


class _Reader:
    """Typed reads of one flat ``INFO`` mapping; a missing or malformed field is the default."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = fields

    def num(self, name: str, default: int = 0) -> int:
        try:
            return int(self.fields[name])
        except (KeyError, ValueError):
            return default

    def real(self, name: str, default: float = 0.0) -> float:
        try:
            return float(self.fields[name])
        except (KeyError, ValueError):
            return default

    def text(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


@dataclass(frozen=True, slots=True)
class Memory:
    used_bytes: int
    rss_bytes: int
    peak_bytes: int
    max_bytes: int  # 0: no limit
    total_system_bytes: int
    fragmentation_ratio: float  # rss / used
    fragmentation_bytes: int
    allocator_frag_ratio: float
    policy: str


@dataclass(frozen=True, slots=True)
class Clients:
    connected: int
    blocked: int
    maxclients: int


@dataclass(frozen=True, slots=True)
class Stats:
    commands_processed: int
    instantaneous_ops_per_sec: int
    keyspace_hits: int
    keyspace_misses: int
    evicted_keys: int
    expired_keys: int
    rejected_connections: int
    total_connections_received: int
    total_forks: int
    latest_fork_usec: int


@dataclass(frozen=True, slots=True)
class Cpu:
    sys_s: float
    user_s: float

    @property
    def total_s(self) -> float:
        return self.sys_s + self.user_s


@dataclass(frozen=True, slots=True)
class Persistence:
    loading: bool
    aof_enabled: bool
    aof_rewrite_in_progress: bool
    rdb_bgsave_in_progress: bool
    rdb_last_bgsave_status: str  # "ok" | "err"
    rdb_last_save_time: int  # epoch seconds
    rdb_changes_since_last_save: int
    aof_last_bgrewrite_status: str
    aof_last_write_status: str


@dataclass(frozen=True, slots=True)
class Replica:
    """A replica as its master sees it (``slaveN:ip=…,port=…,state=…,offset=…,lag=…``)."""

    index: int
    address: str
    state: str
    offset: int
    lag_s: int


@dataclass(frozen=True, slots=True)
class Replication:
    role: str  # "master" | "slave"
    connected_replicas: int
    replicas: tuple[Replica, ...]
    master_repl_offset: int
    # the replica side (empty / 0 on a master)
    master_link_status: str
    master_last_io_s: int
    master_link_down_since_s: int
    master_sync_in_progress: bool


@dataclass(frozen=True, slots=True)
class CommandStat:
    """One ``cmdstat_<name>`` line: cumulative since start (or ``CONFIG RESETSTAT``)."""

    calls: int
    usec: int
    rejected_calls: int
    failed_calls: int


@dataclass(frozen=True, slots=True)
class DbKeys:
    keys: int
    expires: int


@dataclass(frozen=True, slots=True)
class Info:
    version: str
    uptime_s: int
    server_time_s: float
    memory: Memory
    clients: Clients
    stats: Stats
    cpu: Cpu
    persistence: Persistence
    replication: Replication
    commands: Mapping[str, CommandStat]  # by command name, "client|list" for subcommands
    latency_percentiles_us: Mapping[str, Mapping[str, float]]  # command -> {"p50": …, "p99": …}
    keyspace: Mapping[int, DbKeys]  # db index -> keys


def _sections(text: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Every ``name:value`` line, and the ones whose value is ``k=v,…`` split (cmdstat, db0, slave0)."""
    flat: dict[str, str] = {}
    nested: dict[str, dict[str, str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        flat[name] = value
        if "=" in value:
            nested[name] = _fields(value)
    return flat, nested


def parse_info(text: str) -> Info:
    """The typed view of ``INFO all``'s text."""
    flat, nested = _sections(text)
    r = _Reader(flat)
    replicas = []
    for name, fields in nested.items():
        if name.startswith("slave") and name[5:].isdigit():
            f = _Reader(fields)
            replicas.append(
                Replica(
                    int(name[5:]), f"{f.text('ip')}:{f.text('port')}", f.text("state"), f.num("offset"), f.num("lag")
                )
            )
    commands = {}
    latency: dict[str, dict[str, float]] = {}
    keyspace = {}
    for name, fields in nested.items():
        f = _Reader(fields)
        if name.startswith("cmdstat_"):
            commands[name[8:]] = CommandStat(
                f.num("calls"), f.num("usec"), f.num("rejected_calls"), f.num("failed_calls")
            )
        elif name.startswith("latency_percentiles_usec_"):
            latency[name[25:]] = {k: f.real(k) for k in fields}
        elif name.startswith("db") and name[2:].isdigit():
            keyspace[int(name[2:])] = DbKeys(f.num("keys"), f.num("expires"))
    return Info(
        version=r.text("redis_version"),
        uptime_s=r.num("uptime_in_seconds"),
        server_time_s=r.num("server_time_usec") / 1e6,
        memory=Memory(
            used_bytes=r.num("used_memory"),
            rss_bytes=r.num("used_memory_rss"),
            peak_bytes=r.num("used_memory_peak"),
            max_bytes=r.num("maxmemory"),
            total_system_bytes=r.num("total_system_memory"),
            fragmentation_ratio=r.real("mem_fragmentation_ratio"),
            fragmentation_bytes=r.num("mem_fragmentation_bytes"),
            allocator_frag_ratio=r.real("allocator_frag_ratio"),
            policy=r.text("maxmemory_policy"),
        ),
        clients=Clients(r.num("connected_clients"), r.num("blocked_clients"), r.num("maxclients")),
        stats=Stats(
            commands_processed=r.num("total_commands_processed"),
            instantaneous_ops_per_sec=r.num("instantaneous_ops_per_sec"),
            keyspace_hits=r.num("keyspace_hits"),
            keyspace_misses=r.num("keyspace_misses"),
            evicted_keys=r.num("evicted_keys"),
            expired_keys=r.num("expired_keys"),
            rejected_connections=r.num("rejected_connections"),
            total_connections_received=r.num("total_connections_received"),
            total_forks=r.num("total_forks"),
            latest_fork_usec=r.num("latest_fork_usec"),
        ),
        cpu=Cpu(r.real("used_cpu_sys"), r.real("used_cpu_user")),
        persistence=Persistence(
            loading=r.num("loading") == 1,
            aof_enabled=r.num("aof_enabled") == 1,
            aof_rewrite_in_progress=r.num("aof_rewrite_in_progress") == 1,
            rdb_bgsave_in_progress=r.num("rdb_bgsave_in_progress") == 1,
            rdb_last_bgsave_status=r.text("rdb_last_bgsave_status", "ok"),
            rdb_last_save_time=r.num("rdb_last_save_time"),
            rdb_changes_since_last_save=r.num("rdb_changes_since_last_save"),
            aof_last_bgrewrite_status=r.text("aof_last_bgrewrite_status", "ok"),
            aof_last_write_status=r.text("aof_last_write_status", "ok"),
        ),
        replication=Replication(
            role=r.text("role", "master"),
            connected_replicas=r.num("connected_slaves"),
            replicas=tuple(sorted(replicas, key=lambda x: x.index)),
            master_repl_offset=r.num("master_repl_offset"),
            master_link_status=r.text("master_link_status"),
            master_last_io_s=r.num("master_last_io_seconds_ago", -1),
            master_link_down_since_s=r.num("master_link_down_since_seconds", -1),
            master_sync_in_progress=r.num("master_sync_in_progress") == 1,
        ),
        commands=commands,
        latency_percentiles_us=latency,
        keyspace=keyspace,
    )
