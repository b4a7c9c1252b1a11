"""What changed between two samples: CPU, hit rate, operations, evictions and expiries per second.

Redis's counters are cumulative since start (or ``CONFIG RESETSTAT``), so rates are differences.
Without a previous sample, or when a counter went backwards (a restart), the rates are averages
since start (``since_start``): honest, but blunt. The interval is the server's own clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from darkroom.observability.redis_info import Info
from darkroom.observability.redis_sample import RedisSample

__all__ = ["CommandRate", "Rates", "rates"]


@dataclass(frozen=True, slots=True)
class CommandRate:
    command: str
    calls: int
    calls_per_s: float
    usec: int  # time spent in the command over the interval
    usec_per_call: float


@dataclass(frozen=True, slots=True)
class Rates:
    interval_s: float
    since_start: bool
    cpu_cores: float  # used_cpu_sys + used_cpu_user per second: 1.0 is one core saturated
    lookups: int
    hit_rate: float | None  # None without a lookup
    ops_per_s: float
    evicted: int
    evictions_per_s: float
    expired: int
    expiries_per_s: float
    rejected: int  # connections refused at maxclients in the interval
    forks: int  # BGSAVE / BGREWRITEAOF / full syncs in the interval
    commands: tuple[CommandRate, ...]  # busiest (by time spent) first

    def top_commands(self, n: int = 3) -> tuple[CommandRate, ...]:
        return tuple(c for c in self.commands[:n] if c.calls)


def _restarted(now: Info, before: Info) -> bool:
    return (
        now.uptime_s < before.uptime_s
        or now.stats.commands_processed < before.stats.commands_processed
        or now.cpu.total_s < before.cpu.total_s
    )


def rates(current: RedisSample, previous: RedisSample | None = None) -> Rates:
    """The rates between ``previous`` and ``current`` (since start without ``previous``)."""
    now = current.info
    before = previous.info if previous is not None else None
    if before is not None and _restarted(now, before):
        before = None
    if before is None:
        interval = float(max(now.uptime_s, 1))
    else:
        interval = now.server_time_s - before.server_time_s
        if interval <= 0:
            interval = max(current.taken_at_s - previous.taken_at_s, 1e-3) if previous else 1.0

    def delta(value_now: float, value_before: float) -> float:
        return value_now - (value_before if before is not None else 0)

    s, b = now.stats, before.stats if before is not None else None
    # the sampler's own reads are not the application's: take them out
    hits = max(0, int(delta(s.keyspace_hits, b.keyspace_hits if b else 0)) - current.own_lookups.hits)
    misses = max(0, int(delta(s.keyspace_misses, b.keyspace_misses if b else 0)) - current.own_lookups.misses)
    evicted = int(delta(s.evicted_keys, b.evicted_keys if b else 0))
    expired = int(delta(s.expired_keys, b.expired_keys if b else 0))
    commands = []
    for name, stat in now.commands.items():
        old = before.commands.get(name) if before is not None else None
        calls = stat.calls - (old.calls if old else 0)
        usec = stat.usec - (old.usec if old else 0)
        if calls < 0 or usec < 0:  # RESETSTAT between the samples
            calls, usec = stat.calls, stat.usec
        commands.append(CommandRate(name, calls, calls / interval, usec, usec / calls if calls else 0.0))
    commands.sort(key=lambda c: (-c.usec, c.command))
    return Rates(
        interval_s=interval,
        since_start=before is None,
        cpu_cores=max(0.0, delta(now.cpu.total_s, before.cpu.total_s if before else 0.0)) / interval,
        lookups=hits + misses,
        hit_rate=hits / (hits + misses) if hits + misses > 0 else None,
        ops_per_s=delta(s.commands_processed, b.commands_processed if b else 0) / interval,
        evicted=evicted,
        evictions_per_s=evicted / interval,
        expired=expired,
        expiries_per_s=expired / interval,
        rejected=int(delta(s.rejected_connections, b.rejected_connections if b else 0)),
        forks=int(delta(s.total_forks, b.total_forks if b else 0)),
        commands=tuple(commands),
    )
