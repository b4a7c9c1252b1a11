"""The likely cause of a failing check, read from what else the same sample shows.

Each function answers one short clause ("" when the sample explains nothing). The rules are
written out in docs/observability.md ("Diagnosis"). Text taken from Redis (command and client
names) is passed through as it is: the CLI escapes it when it prints.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from darkroom.observability.redis_info import Replication
from darkroom.observability.redis_rates import Rates
from darkroom.observability.redis_sample import ClientEntry, LatencyEvent, RedisSample, SlowEntry

if TYPE_CHECKING:
    from darkroom.observability.checks import Thresholds

__all__ = [
    "blocked", "cpu", "evictions", "fragmentation", "hit_rate", "holders", "latency", "memory", "persistence",
    "policy_risk", "replica_link", "replicas", "slow_commands", "split_blocked",
]  # fmt: skip

_MIB = 1024 * 1024
_TERMINAL = ("completed", "canceled", "errored")
_AOF_EVENTS = ("aof-fsync-always", "aof-write", "aof-write-pending-fsync", "aof-write-active-child", "aof-write-alone")


def _join(causes: list[str]) -> str:
    return "; ".join(c for c in causes if c)


def latency(sample: RedisSample, rates: Rates, t: Thresholds, events: list[LatencyEvent]) -> str:
    """A spike during a fork (AOF rewrite, BGSAVE), a disk stall, slow commands, a busy CPU, swap."""
    p = sample.info.persistence
    fork_ms = sample.info.stats.latest_fork_usec / 1000.0
    causes = []
    if p.aof_rewrite_in_progress or p.rdb_bgsave_in_progress:
        what = "an AOF rewrite" if p.aof_rewrite_in_progress else "a BGSAVE"
        causes.append(f"likely the fork of {what} in progress (latest fork took {fork_ms:.1f} ms)")
    elif rates.forks > 0:
        causes.append(
            f"likely a fork: {rates.forks} fork(s) (AOF rewrite or BGSAVE) in the same "
            f"{rates.interval_s:.0f} s, the latest took {fork_ms:.1f} ms"
        )
    if any(e.event == "fork" for e in events):
        causes.append("Redis recorded the fork itself as a latency spike")
    stalls = [e for e in events if e.event in _AOF_EVENTS]
    if stalls:
        causes.append(
            f"the AOF waited on the disk ({stalls[0].event} {stalls[0].latest_ms} ms): appendfsync or a slow disk"
        )
    slow = [e for e in sample.slowlog if sample.server_time_s - e.at_s <= t.window_s]
    if slow:
        causes.append(slow_commands(slow))
    if rates.cpu_cores >= t.cpu.warn:
        causes.append(f"Redis is CPU-bound ({rates.cpu_cores:.0%} of a core)")
    if 0 < sample.info.memory.fragmentation_ratio < 1.0:
        causes.append("rss below used memory: Redis is swapping")
    return (
        _join(causes)
        or "nothing else in the sample explains it: the network or the host (redis-cli --intrinsic-latency)"
    )


def cpu(rates: Rates) -> str:
    top = ", ".join(f"{c.command} {c.usec / 1e6:.2f} s" for c in rates.top_commands())
    return f"time went to {top}" if top else ""


def memory(sample: RedisSample) -> str:
    used = sample.info.memory.used_bytes or 1
    stats = sample.memory_stats
    causes = []
    for key, what in (("clients.normal", "client buffers"), ("replication.backlog", "the replication backlog")):
        if stats.get(key, 0) > 0.25 * used:
            causes.append(f"{what} hold {stats[key] / _MIB:.1f} MiB")
    ks = sample.keyspace
    if ks is not None and ks.depths:
        finished = sum(d.messages for d in ks.depths if d.state in _TERMINAL)
        pending = sum(d.messages for d in ks.depths if d.state == "pending")
        if finished > pending:
            causes.append(f"{finished} finished queue messages are kept (retention) against {pending} pending")
        elif pending:
            biggest = max((d for d in ks.depths if d.state == "pending"), key=lambda d: d.messages)
            causes.append(f"{pending} pending queue messages, most in {biggest.queue!r} ({biggest.messages})")
    if sample.config.maxmemory_policy == "noeviction" and (
        sample.config.maxmemory_bytes or sample.info.memory.max_bytes
    ):
        causes.append("at maxmemory, writes will fail with OOM (noeviction: nothing is evicted)")
    return _join(causes)


def fragmentation(sample: RedisSample) -> str:
    m = sample.info.memory
    if 0 < m.fragmentation_ratio < 1.0:
        return "resident memory below used memory: part of Redis is swapped out"
    if m.allocator_frag_ratio > 1.1:
        return (
            f"allocator fragmentation {m.allocator_frag_ratio:.2f} after deletes or expiries: activedefrag yes "
            "reclaims it, or a restart"
        )
    if m.peak_bytes > 1.5 * m.used_bytes:
        return f"memory was {m.peak_bytes / _MIB:.0f} MiB at its peak: the allocator kept the pages"
    return ""


def hit_rate(rates: Rates) -> str:
    if rates.evicted:
        return f"{rates.evicted} keys were evicted in the same interval: reads miss what was evicted"
    if rates.expired:
        return f"{rates.expired} keys expired in the same interval: TTLs may be too short"
    return "reads of keys never written, or a cold cache after a restart"


def policy_risk(policy: str) -> str:
    return f"queue messages have no TTL, so {policy} at maxmemory means losing them: set maxmemory-policy noeviction"


def evictions(policy: str) -> str:
    if policy.startswith("allkeys-"):
        return f"data loss: {policy} evicts any key, queue messages and leases included; set noeviction and add memory"
    return (
        f"{policy} evicts keys with a TTL: feeds, the post cache, rate-limit quotas (their limits reset) and "
        "idempotency records; add memory or lower the retention"
    )


def _by_name(clients: tuple[ClientEntry, ...]) -> str:
    counts = Counter(c.name or "(unnamed)" for c in clients)
    return ", ".join(f"{name} {n}" for name, n in counts.most_common(4))


def holders(clients: tuple[ClientEntry, ...] | None) -> str:
    if not clients:
        return ""
    return f"connections by client name: {_by_name(clients)}"


def split_blocked(clients: tuple[ClientEntry, ...] | None, prefix: str) -> tuple[int, int]:
    """(Darkroom's own blocked clients, the others), by CLIENT SETNAME prefix."""
    blocked_ = [c for c in clients or () if c.blocked]
    ours = sum(1 for c in blocked_ if c.name.startswith(prefix))
    return ours, len(blocked_) - ours


def blocked(clients: tuple[ClientEntry, ...] | None, prefix: str) -> str:
    if clients is None:
        return "CLIENT LIST was not read: they cannot be told apart"
    others = [c for c in clients if c.blocked and not c.name.startswith(prefix)]
    if not others:
        return ""
    commands = Counter(c.command for c in others)
    what = ", ".join(f"{cmd} {n}" for cmd, n in commands.most_common(3))
    who = _by_name(tuple(others))
    return f"clients that are not Darkroom's wait in {what} ({who}): a stuck producer or starving consumers"


def replica_link(rep: Replication) -> str:
    if rep.master_sync_in_progress:
        return "a full sync is in progress"
    if rep.master_link_down_since_s >= 0:
        return (
            f"down for {rep.master_link_down_since_s} s: the master is unreachable or refuses this replica (masterauth)"
        )
    return "the master is unreachable"


def replicas(rep: Replication, min_replicas: int) -> str:
    offline = [r for r in rep.replicas if r.state != "online"]
    causes = [f"replica {r.address} is {r.state}" for r in offline]
    if rep.connected_replicas < min_replicas:
        causes.append(f"{rep.connected_replicas} replicas connected, {min_replicas} expected")
    lagging = [r for r in rep.replicas if r.lag_s > 0]
    if lagging:
        worst = max(lagging, key=lambda r: r.lag_s)
        causes.append(f"{worst.address} acknowledged {worst.lag_s} s ago: network or a slow replica")
    return _join(causes)


def persistence(sample: RedisSample, failed: list[str]) -> str:
    causes = []
    if failed:
        causes.append("the server log says why (often the disk is full or its dir is not writable)")
    fork_ms = sample.info.stats.latest_fork_usec / 1000.0
    if fork_ms >= 100:
        causes.append(
            f"a fork pauses Redis for {fork_ms:.0f} ms at {sample.info.memory.rss_bytes / _MIB:.0f} MiB resident: "
            "transparent huge pages, a VM, or a large dataset"
        )
    return _join(causes)


def slow_commands(entries: list[SlowEntry]) -> str:
    worst = sorted(entries, key=lambda e: -e.duration_us)[:3]
    return "slow commands: " + ", ".join(
        f"{e.command} {e.duration_us / 1000:.1f} ms" + (f" from {e.client_name}" if e.client_name else "")
        for e in worst
    )
