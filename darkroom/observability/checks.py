"""Redis health checks: each reads a sample (and the rates since the previous one) and answers a
:class:`Check` — ok, warn or critical, its value against its thresholds, and a message that, when
the check fails, names the likely cause from what else the sample shows (``diagnosis``).

The thresholds and where they come from are in docs/observability.md; :class:`Thresholds` holds
them, each check's pair in a :class:`Limit`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from darkroom.observability import diagnosis
from darkroom.observability.errors import InvalidThreshold
from darkroom.observability.redis_rates import Rates, rates
from darkroom.observability.redis_sample import RedisSample, percentile

__all__ = [
    "CHECK_NAMES",
    "EVICTIONS",
    "REJECTED",
    "Check",
    "HealthReport",
    "Limit",
    "Status",
    "Thresholds",
    "check_health",
]

_MIB = 1024 * 1024


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return (Status.OK, Status.WARN, Status.CRITICAL).index(self)

    @property
    def exit_code(self) -> int:
        """The ``darkroom health`` exit status: 0 ok, 1 warn, 2 critical."""
        return self.rank


@dataclass(frozen=True, slots=True)
class Limit:
    """A warning and a critical threshold; ``below``: lower values are worse (a hit rate)."""

    warn: float
    critical: float
    unit: str
    below: bool = False

    def __post_init__(self) -> None:
        if (self.below and self.warn < self.critical) or (not self.below and self.warn > self.critical):
            order = "at least" if self.below else "at most"
            raise InvalidThreshold(f"warn {self.warn:g} must be {order} critical {self.critical:g} ({self.unit})")

    def status(self, value: float) -> Status:
        if self.below:
            return Status.CRITICAL if value < self.critical else Status.WARN if value < self.warn else Status.OK
        return Status.CRITICAL if value >= self.critical else Status.WARN if value >= self.warn else Status.OK

    def as_json(self) -> dict[str, object]:
        return {"warn": self.warn, "critical": self.critical, "unit": self.unit}


# any eviction, any refused connection: fixed, not tunable (the alert rules read them too)
EVICTIONS = Limit(1, 1, "keys")
REJECTED = Limit(1, 1, "connections")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every check's thresholds (docs/observability.md says where each default comes from)."""

    window_s: float = 300.0  # latency events and slow-log entries newer than this count
    latency_ms: Limit = Limit(5, 20, "ms")
    cpu: Limit = Limit(0.6, 0.9, "cores")
    memory: Limit = Limit(0.7, 0.9, "ratio")
    fragmentation: Limit = Limit(1.5, 2.0, "ratio")
    fragmentation_min_rss_bytes: int = 64 * _MIB  # a near-empty instance's ratio means nothing
    hit_rate: Limit = Limit(0.8, 0.5, "ratio", below=True)
    hit_rate_min_lookups: int = 1000
    clients: Limit = Limit(0.8, 0.9, "ratio")
    blocked_clients: Limit = Limit(10, 100, "clients")
    replication_lag_s: Limit = Limit(10, 60, "s")
    min_replicas: int = 0
    fork_ms: Limit = Limit(100, 1000, "ms")
    backup_age_s: float = 86400.0
    slowlog_ms: Limit = Limit(10, 20, "ms")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    value: float | None
    threshold: Limit | None
    message: str

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status.value,
            "value": self.value,
            "threshold": self.threshold.as_json() if self.threshold else None,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: tuple[Check, ...]

    @property
    def status(self) -> Status:
        return max((c.status for c in self.checks), key=lambda s: s.rank, default=Status.OK)

    def as_json(self) -> dict[str, object]:
        return {"status": self.status.value, "checks": [c.as_json() for c in self.checks]}


@dataclass(frozen=True, slots=True)
class _View:
    now: RedisSample
    rates: Rates
    t: Thresholds
    client_prefix: str

    def recent(self, at_s: int) -> bool:
        return at_s >= self.now.server_time_s - self.t.window_s


def _check(name: str, limit: Limit | None, value: float | None, status: Status, ok: str, *, cause: str = "") -> Check:
    message = ok if status is Status.OK or not cause else f"{ok}; {cause}"
    return Check(name, status, None if value is None else round(value, 4), limit, message)


def _latency(v: _View) -> Check:
    rt = v.now.round_trip.p50_ms
    events = [e for e in v.now.latency_events if v.recent(e.at_s)]
    worst = max(events, key=lambda e: e.latest_ms, default=None)
    value = max(rt, float(worst.latest_ms) if worst else 0.0)
    status = v.t.latency_ms.status(value)
    seen = f"round trip p50 {rt:.2f} ms"
    if worst is not None:
        seen += f", latest spike {worst.latest_ms} ms ({worst.event})"
    elif v.now.config.latency_monitor_threshold_ms == 0:
        seen += " (latency-monitor-threshold is 0: Redis records no spikes)"
    return _check("latency", v.t.latency_ms, value, status, seen, cause=diagnosis.latency(v.now, v.rates, v.t, events))


def _cpu(v: _View) -> Check:
    value = v.rates.cpu_cores
    span = "since start" if v.rates.since_start else f"over {v.rates.interval_s:.1f} s"
    return _check(
        "cpu", v.t.cpu, value, v.t.cpu.status(value), f"{value:.0%} of one core {span}", cause=diagnosis.cpu(v.rates)
    )


def _memory(v: _View) -> Check:
    m = v.now.info.memory
    limit = v.now.config.maxmemory_bytes or m.max_bytes
    against, what = (limit, "maxmemory") if limit else (m.total_system_bytes, "system memory")
    if not against:
        return _check("memory", v.t.memory, None, Status.OK, f"{m.used_bytes / _MIB:.1f} MiB used; no limit known")
    value = m.used_bytes / against
    ok = f"{m.used_bytes / _MIB:.1f} MiB used of {against / _MIB:.0f} MiB {what}"
    return _check("memory", v.t.memory, value, v.t.memory.status(value), ok, cause=diagnosis.memory(v.now))


def _fragmentation(v: _View) -> Check:
    m = v.now.info.memory
    value = m.fragmentation_ratio
    if m.rss_bytes < v.t.fragmentation_min_rss_bytes:
        small = f"ratio {value:.2f} not judged: {m.rss_bytes / _MIB:.1f} MiB resident is too small to mean anything"
        return _check("fragmentation", v.t.fragmentation, value, Status.OK, small)
    status = v.t.fragmentation.status(value)
    if 0 < value < 1.0:
        status = Status.WARN
    ok = f"ratio {value:.2f} (rss {m.rss_bytes / _MIB:.1f} MiB / used {m.used_bytes / _MIB:.1f} MiB)"
    return _check("fragmentation", v.t.fragmentation, value, status, ok, cause=diagnosis.fragmentation(v.now))


def _hit_rate(v: _View) -> Check:
    r = v.rates
    queues = v.now.keyspace.queues if v.now.keyspace is not None else ()
    if queues and r.hit_rate is not None:
        # the queue's scripts read every state set of every queue they poll, and an empty set is
        # no key: an idle platform misses most of its lookups, so the ratio says nothing of caching
        held = (
            f"{r.hit_rate:.1%} of {r.lookups} lookups hit; not judged: this Redis holds {len(queues)} Darkroom "
            "queue(s), whose polls of empty state sets count as misses"
        )
        return _check("hit_rate", v.t.hit_rate, r.hit_rate, Status.OK, held)
    if r.hit_rate is None or r.lookups < v.t.hit_rate_min_lookups:
        few = f"{r.lookups} lookups: fewer than {v.t.hit_rate_min_lookups} to judge"
        return _check("hit_rate", v.t.hit_rate, r.hit_rate, Status.OK, few)
    ok = f"{r.hit_rate:.1%} of {r.lookups} lookups hit"
    return _check(
        "hit_rate", v.t.hit_rate, r.hit_rate, v.t.hit_rate.status(r.hit_rate), ok, cause=diagnosis.hit_rate(r)
    )


def _evictions(v: _View) -> Check:
    policy = v.now.config.maxmemory_policy or v.now.info.memory.policy
    r = v.rates
    limit = EVICTIONS
    if r.evicted == 0:
        maxmemory = v.now.config.maxmemory_bytes or v.now.info.memory.max_bytes
        if policy.startswith("allkeys-") and maxmemory:
            return _check(
                "evictions", limit, 0, Status.WARN, f"none, but maxmemory-policy {policy} would evict queue keys",
                cause=diagnosis.policy_risk(policy),
            )  # fmt: skip
        return _check("evictions", limit, 0, Status.OK, f"none (maxmemory-policy {policy})")
    status = Status.CRITICAL if policy.startswith("allkeys-") else Status.WARN
    ok = f"{r.evicted} keys evicted ({r.evictions_per_s:.1f}/s) under maxmemory-policy {policy}"
    return _check("evictions", limit, r.evicted, status, ok, cause=diagnosis.evictions(policy))


def _clients(v: _View) -> Check:
    c = v.now.info.clients
    maxclients = v.now.config.maxclients or c.maxclients
    if not maxclients:
        return _check("clients", v.t.clients, None, Status.OK, f"{c.connected} connected; maxclients unknown")
    value = c.connected / maxclients
    ok = f"{c.connected} of maxclients {maxclients} connected"
    return _check("clients", v.t.clients, value, v.t.clients.status(value), ok, cause=diagnosis.holders(v.now.clients))


def _blocked(v: _View) -> Check:
    total = v.now.info.clients.blocked
    if total == 0:
        return _check("blocked_clients", v.t.blocked_clients, 0, Status.OK, "none blocked")
    _, others = diagnosis.split_blocked(v.now.clients, v.client_prefix)
    if v.now.clients is None:  # not read: judge them all
        others = total
    status = v.t.blocked_clients.status(others)
    ok = f"{total} blocked: {total - others} of them Darkroom's own long polls (expected), {others} others"
    return _check(
        "blocked_clients",
        v.t.blocked_clients,
        total,
        status,
        ok,
        cause=diagnosis.blocked(v.now.clients, v.client_prefix),
    )


def _rejected(v: _View) -> Check:
    total = v.now.info.stats.rejected_connections
    limit = REJECTED
    if v.rates.rejected > 0:
        recent = f"{v.rates.rejected} connections refused at maxclients in the last {v.rates.interval_s:.0f} s"
        return _check(
            "rejected_connections",
            limit,
            v.rates.rejected,
            Status.CRITICAL,
            recent,
            cause=diagnosis.holders(v.now.clients),
        )
    if total > 0:
        old = f"{total} refused since start (none lately; CONFIG RESETSTAT clears the count)"
        return _check("rejected_connections", limit, total, Status.WARN, old, cause="maxclients was reached earlier")
    return _check("rejected_connections", limit, 0, Status.OK, "none refused")


def _replication(v: _View) -> Check:
    rep = v.now.info.replication
    lag_limit = v.t.replication_lag_s
    if rep.role == "slave":
        if rep.master_link_status != "up":
            down = f"replica: link to its master is {rep.master_link_status or 'unknown'}"
            return _check("replication", lag_limit, None, Status.CRITICAL, down, cause=diagnosis.replica_link(rep))
        lag = float(max(rep.master_last_io_s, 0))
        status = lag_limit.status(lag)
        if rep.master_sync_in_progress:
            status = max(status, Status.WARN, key=lambda s: s.rank)
        return _check("replication", lag_limit, lag, status, f"replica: last heard from its master {lag:.0f} s ago")
    lag = float(max((r.lag_s for r in rep.replicas), default=0))
    status = lag_limit.status(lag) if rep.replicas else Status.OK
    offline = [r for r in rep.replicas if r.state != "online"]
    if offline or rep.connected_replicas < v.t.min_replicas:
        status = Status.CRITICAL
    ok = f"master with {rep.connected_replicas} replica(s)" + (f", worst lag {lag:.0f} s" if rep.replicas else "")
    return _check("replication", lag_limit, lag, status, ok, cause=diagnosis.replicas(rep, v.t.min_replicas))


def _persistence(v: _View) -> Check:
    p, cfg = v.now.info.persistence, v.now.config
    fork_ms = v.now.info.stats.latest_fork_usec / 1000.0
    failed = [
        what
        for what, state in (
            ("last BGSAVE", p.rdb_last_bgsave_status),
            ("last AOF rewrite", p.aof_last_bgrewrite_status),
            ("last AOF write", p.aof_last_write_status),
        )
        if state != "ok"
    ]
    status = v.t.fork_ms.status(fork_ms)
    age_s = v.now.server_time_s - p.rdb_last_save_time if p.rdb_last_save_time else 0.0
    mode = "AOF" if p.aof_enabled else "RDB" if cfg.save else "none"
    ok = f"{mode}; latest fork {fork_ms:.1f} ms"
    if failed:
        status = Status.CRITICAL
        ok = f"{', '.join(failed)} failed; " + ok
    elif mode == "none":
        status = max(status, Status.WARN, key=lambda s: s.rank)
        ok = 'no persistence (appendonly no, save ""): a restart loses every queue'
    elif mode == "RDB" and p.rdb_changes_since_last_save and age_s > v.t.backup_age_s:
        status = max(status, Status.WARN, key=lambda s: s.rank)
        ok += f"; last snapshot {age_s / 3600:.0f} h ago with {p.rdb_changes_since_last_save} changes since"
    return _check("persistence", v.t.fork_ms, fork_ms, status, ok, cause=diagnosis.persistence(v.now, failed))


def _slowlog(v: _View) -> Check:
    recent = [e for e in v.now.slowlog if v.recent(e.at_s)]
    value = percentile([e.duration_us / 1000.0 for e in recent], 95)
    if not recent:
        return _check(
            "slowlog",
            v.t.slowlog_ms,
            0.0,
            Status.OK,
            f"no slow commands in {v.t.window_s:.0f} s ({v.now.slowlog_length} logged)",
        )
    ok = f"{len(recent)} slow commands in {v.t.window_s:.0f} s, p95 {value:.1f} ms"
    return _check(
        "slowlog", v.t.slowlog_ms, value, v.t.slowlog_ms.status(value), ok, cause=diagnosis.slow_commands(recent)
    )


_CHECKS: tuple[tuple[str, Callable[[_View], Check]], ...] = (
    ("latency", _latency),
    ("cpu", _cpu),
    ("memory", _memory),
    ("fragmentation", _fragmentation),
    ("hit_rate", _hit_rate),
    ("evictions", _evictions),
    ("clients", _clients),
    ("blocked_clients", _blocked),
    ("rejected_connections", _rejected),
    ("replication", _replication),
    ("persistence", _persistence),
    ("slowlog", _slowlog),
)
CHECK_NAMES: tuple[str, ...] = tuple(name for name, _ in _CHECKS)


def check_health(
    current: RedisSample,
    previous: RedisSample | None = None,
    *,
    thresholds: Thresholds | None = None,
    client_prefix: str = "darkroom:",
) -> HealthReport:
    """Every check over ``current``, with rates since ``previous`` (since start without it)."""
    view = _View(current, rates(current, previous), thresholds or Thresholds(), client_prefix)
    return HealthReport(tuple(run(view) for _, run in _CHECKS))
