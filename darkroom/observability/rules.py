"""The alert rules, once: each a PromQL value judged against a warning and a critical threshold,
held for a ``for`` duration, with a summary and a runbook paragraph in docs/observability.md.

Two things derive from this table and nothing else:

* ``deploy/prometheus/darkroom-rules.yml`` (:func:`prometheus_rules`; ``python -m
  darkroom.observability.rules`` writes it, a test checks the committed file is the same), for a
  Prometheus scraping Darkroom (or redis_exporter: the Redis rules read its names);
* Darkroom's own evaluation, for the embedded setup where no Prometheus runs: a rule's ``check``
  names the check (``checks.py`` for Redis, ``platform_checks.py`` for the platform) that judges
  the same value with the same :class:`~darkroom.observability.checks.Limit`, and ``history.py``
  holds its status for the rule's ``for`` before it counts as firing.

The thresholds are the checks' own (:class:`Thresholds`, :class:`PlatformThresholds`), never
written here.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path

from darkroom.observability.checks import CHECK_NAMES, EVICTIONS, REJECTED, Limit, Thresholds
from darkroom.observability.platform_checks import PLATFORM_CHECK_NAMES, PlatformThresholds

__all__ = [
    "EMBEDDED_CHECKS",
    "FAILED",
    "RULES",
    "RULES_PATH",
    "UP",
    "Rule",
    "Severity",
    "for_of",
    "prometheus_rules",
]

RULES_PATH = Path("deploy/prometheus/darkroom-rules.yml")
UP = Limit(1, 1, "up", below=True)  # a 0/1 gauge that must be 1
FAILED = Limit(1, 1, "failed")  # a 0/1 "something failed" value
_MIB = 1024 * 1024
# the check Darkroom itself runs when Redis cannot be read (not one of checks.py's)
REACHABLE = "reachable"
EMBEDDED_CHECKS = (REACHABLE, *CHECK_NAMES, *PLATFORM_CHECK_NAMES)


class Severity(enum.StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


BOTH = (Severity.WARNING, Severity.CRITICAL)
WARNING = (Severity.WARNING,)
CRITICAL = (Severity.CRITICAL,)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert: ``value`` (PromQL, in ``limit.unit``) against ``limit``, for ``for_s``.

    ``guard``: PromQL the value must also pass (joined ``and on (…)``), e.g. fragmentation only
    judged from 64 MiB resident. ``check``: the check judging the same thing in Darkroom itself;
    a rule whose check is not in :data:`EMBEDDED_CHECKS` is Prometheus's alone.
    """

    alert: str
    check: str
    value: str
    limit: Limit
    for_s: int
    summary: str
    severities: tuple[Severity, ...] = BOTH
    guard: str = ""
    on: str = "instance"  # the labels the guard matches on
    group: str = "redis"

    @property
    def anchor(self) -> str:
        """The runbook paragraph's anchor in docs/observability.md (a heading named after the check)."""
        return self.check

    @property
    def embedded(self) -> bool:
        return self.check in EMBEDDED_CHECKS

    def threshold(self, severity: Severity) -> float:
        return self.limit.warn if severity is Severity.WARNING else self.limit.critical

    def expr(self, severity: Severity) -> str:
        op = "<" if self.limit.below else ">="
        base = f"({self.value}) {op} {_num(self.threshold(severity))}"
        return f"{base} and on ({self.on}) ({self.guard})" if self.guard else base


_T = Thresholds()
_P = PlatformThresholds()
_W = _num(_T.window_s)

RULES: tuple[Rule, ...] = (
    # -- Redis: checks.py's thresholds, redis_exporter's names (Darkroom's where it has none) --
    Rule("RedisDown", REACHABLE, "redis_up", UP, 60, "Redis cannot be read", CRITICAL),
    Rule(
        "RedisLatency", "latency",
        'max by (instance) (darkroom_redis_round_trip_seconds{quantile="0.5"} * 1000 or '
        f"redis_latency_spike_duration_seconds * 1000 and on (instance, event_name) "
        f"time() - redis_latency_spike_last < {_W})",
        _T.latency_ms, 300, "Redis answers slowly: {{ $value }} ms (round trip p50 or latest spike)",
    ),
    Rule(
        "RedisCpu", "cpu",
        "sum by (instance) (rate(redis_cpu_sys_seconds_total[2m]) + rate(redis_cpu_user_seconds_total[2m]))",
        _T.cpu, 300, "Redis's main thread uses {{ $value }} cores",
    ),
    Rule(
        "RedisMemory", "memory",
        "max by (instance) (redis_memory_used_bytes / (redis_memory_max_bytes > 0) or "
        "redis_memory_used_bytes / (redis_total_system_memory_bytes > 0))",
        _T.memory, 300,
        "Redis uses {{ $value | humanizePercentage }} of its maxmemory (or of the system's memory without one)",
    ),
    Rule(
        "RedisFragmentation", "fragmentation", "redis_mem_fragmentation_ratio", _T.fragmentation, 600,
        "Redis's resident memory is {{ $value }} times what it uses",
        guard=f"redis_memory_used_rss_bytes >= {_num(_T.fragmentation_min_rss_bytes)}",
    ),
    Rule(
        "RedisSwapping", "fragmentation", "redis_mem_fragmentation_ratio", Limit(1.0, 1.0, "ratio", below=True), 600,
        "Redis's fragmentation ratio is {{ $value }}: part of it is swapped out", WARNING,
        guard=f"redis_memory_used_rss_bytes >= {_num(_T.fragmentation_min_rss_bytes)}",
    ),
    Rule(
        "RedisHitRate", "hit_rate",
        "rate(redis_keyspace_hits_total[5m]) / "
        "(rate(redis_keyspace_hits_total[5m]) + rate(redis_keyspace_misses_total[5m]))",
        _T.hit_rate, 600, "Only {{ $value | humanizePercentage }} of Redis's lookups hit",
        # not on the platform's own Redis (the queue service exports darkroom_queue_queues beside it):
        # its queues' polls of empty state sets are misses (checks.py's hit_rate says the same)
        guard="(increase(redis_keyspace_hits_total[5m]) + increase(redis_keyspace_misses_total[5m]) >= "
        + _num(_T.hit_rate_min_lookups)
        + ") unless on (instance) (darkroom_queue_queues > 0)",
    ),
    Rule(
        "RedisEvictions", "evictions", "increase(redis_evicted_keys_total[5m])", EVICTIONS, 0,
        "Redis evicted {{ $value }} keys in 5 min", WARNING,
    ),
    Rule(
        "RedisEvictingQueueKeys", "evictions", "increase(redis_evicted_keys_total[5m])", EVICTIONS, 0,
        "Redis evicts under an allkeys-* policy: queue messages and leases are lost", CRITICAL,
        guard='darkroom_redis_maxmemory_policy{policy=~"allkeys-.*"}',
    ),
    Rule(
        "RedisEvictionPolicy", "evictions",
        'count by (instance) (darkroom_redis_maxmemory_policy{policy=~"allkeys-.*"})', EVICTIONS, 300,
        "Redis has a maxmemory and an allkeys-* policy: it would evict queue keys", WARNING,
        guard="redis_memory_max_bytes > 0",
    ),
    Rule(
        "RedisClients", "clients", "redis_connected_clients / (redis_config_maxclients > 0)", _T.clients, 300,
        "Redis has {{ $value | humanizePercentage }} of maxclients connected",
    ),
    Rule(
        "RedisBlockedClients", "blocked_clients",
        "redis_blocked_clients - (darkroom_redis_blocked_clients_own or redis_blocked_clients * 0)",
        _T.blocked_clients, 300, "{{ $value }} Redis clients are blocked, not counting Darkroom's long polls",
    ),
    Rule(
        "RedisRejectedConnections", "rejected_connections", "increase(redis_rejected_connections_total[5m])",
        REJECTED, 0, "Redis refused {{ $value }} connections at maxclients in 5 min", CRITICAL,
    ),
    Rule(
        "RedisRejectedConnectionsEarlier", "rejected_connections", "redis_rejected_connections_total", REJECTED, 0,
        "Redis refused {{ $value }} connections since start", WARNING,
    ),
    Rule(
        "RedisReplicationLag", "replication",
        "max by (instance) (redis_connected_slave_lag_seconds) or "
        "max by (instance) (redis_master_last_io_seconds_ago)",
        _T.replication_lag_s, 120, "Redis replication is {{ $value }} s behind",
    ),
    Rule(
        "RedisReplicaLinkDown", "replication", "redis_master_link_up", UP, 60,
        "This Redis replica's link to its master is down", CRITICAL,
    ),
    Rule(
        "RedisPersistenceFailed", "persistence",
        "1 - min by (instance) ("
        '{__name__=~"redis_rdb_last_bgsave_status|redis_aof_last_bgrewrite_status|redis_aof_last_write_status"})',
        FAILED, 0, "Redis's last BGSAVE, AOF rewrite or AOF write failed", CRITICAL,
    ),
    Rule(
        "RedisForkSlow", "persistence", "redis_latest_fork_seconds * 1000", _T.fork_ms, 0,
        "Redis's latest fork paused it {{ $value }} ms",
    ),
    Rule(
        "RedisBackupOld", "persistence", "time() - (redis_rdb_last_save_timestamp_seconds > 0)",
        Limit(_T.backup_age_s, _T.backup_age_s, "s"), 0,
        "Redis's last snapshot is {{ $value | humanizeDuration }} old, with changes since and no AOF", WARNING,
        guard="redis_rdb_changes_since_last_save > 0 and redis_aof_enabled == 0",
    ),
    Rule(
        "RedisSlowCommands", "slowlog", "darkroom_redis_slowlog_recent_p95_seconds * 1000", _T.slowlog_ms, 60,
        f"Redis's slow log: p95 {{{{ $value }}}} ms over the last {_W} s",
    ),
    # -- the platform: platform_checks.py's thresholds --
    Rule(
        "DarkroomQueueDepth", "queue_depth", 'max by (instance, queue) (darkroom_queue_messages{state="pending"})',
        _P.queue_depth, 600, "{{ $labels.queue }} has {{ $value }} ready messages", group="platform",
    ),
    Rule(
        "DarkroomQueueLate", "queue_lateness",
        "max by (instance, queue) (darkroom_queue_oldest_pending_lateness_seconds)", _P.queue_lateness_s, 300,
        "{{ $labels.queue }}'s most urgent ready message is {{ $value }} s past its deadline", group="platform",
    ),
    Rule(
        "DarkroomWorkersMissing", "workers", "darkroom_workers_live", _P.workers, 120,
        "No worker announced itself (heartbeats missing)", WARNING, group="platform",
    ),
    Rule(
        "DarkroomHeartbeatFailures", "heartbeat_failures",
        "sum by (instance) (increase(darkroom_heartbeat_failures_total[10m]))", _P.heartbeat_failures, 0,
        "{{ $labels.instance }}: {{ $value }} lease extensions failed in 10 min", group="platform",
    ),
    Rule(
        "DarkroomWorkflowFailures", "workflow_failure",
        'sum by (workflow) (increase(darkroom_workflows_finished_total{state="failed"}[15m])) / '
        "sum by (workflow) (increase(darkroom_workflows_finished_total[15m]))",
        _P.workflow_failure, 900, "{{ $value | humanizePercentage }} of {{ $labels.workflow }}'s runs failed in 15 min",
        guard="sum by (workflow) (increase(darkroom_workflows_finished_total[15m])) >= "
        + _num(_P.workflow_min_runs),
        on="workflow",
        group="platform",
    ),
    Rule(
        "DarkroomEventsLag", "events_lag", "max by (instance, stream, group) (darkroom_redis_stream_group_lag)",
        _P.events_lag, 600, "Consumer group {{ $labels.group }} is {{ $value }} entries behind", group="platform",
    ),
    Rule(
        "DarkroomOutboxBacklog", "outbox_backlog", "max(darkroom_outbox_oldest_pending_age_seconds)",
        _P.outbox_age_s, 120, "The oldest outbox row not relayed has waited {{ $value | humanizeDuration }}",
        group="platform",
    ),
    Rule(
        "DarkroomHttpErrors", "http_errors",
        'sum(rate(darkroom_http_requests_total{status=~"5.."}[5m])) / sum(rate(darkroom_http_requests_total[5m]))',
        _P.http_error_rate, 300, "{{ $value | humanizePercentage }} of HTTP requests answer 5xx", group="platform",
    ),
    Rule(
        "DarkroomHttpLatency", "http_latency",
        "histogram_quantile(0.99, sum by (le) (rate(darkroom_http_request_duration_seconds_bucket[5m])))",
        _P.http_latency_s, 600, "HTTP p99 is {{ $value | humanize }}s", group="platform",
    ),
)  # fmt: skip


def for_of(check: str) -> float:
    """How long a check's status must hold before Darkroom counts it firing (its rules' shortest ``for``)."""
    return float(min((r.for_s for r in RULES if r.check == check), default=0))


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def prometheus_rules(rules: tuple[Rule, ...] = RULES) -> str:
    """The rules as a Prometheus rule file (YAML; strings JSON-quoted, which YAML reads as they are)."""
    q = json.dumps
    lines = [
        "# Generated by `python -m darkroom.observability.rules` from darkroom/observability/rules.py: do not edit.",
        "# Each rule comes as a warning and a critical alert; runbooks: docs/observability.md.",
        "groups:",
    ]
    for group in dict.fromkeys(r.group for r in rules):
        lines += [f"  - name: darkroom-{group}", "    rules:"]
        for rule in (r for r in rules if r.group == group):
            for severity in rule.severities:
                lines += [
                    f"      - alert: {rule.alert}",
                    f"        expr: {q(rule.expr(severity))}",
                    f"        for: {_duration(rule.for_s)}",
                    "        labels:",
                    f"          severity: {severity.value}",
                    f"          check: {rule.check}",
                    "        annotations:",
                    f"          summary: {q(rule.summary)}",
                    f"          runbook_url: {q('docs/observability.md#' + rule.anchor)}",
                ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    RULES_PATH.parent.mkdir(parents=True, exist_ok=True)
    RULES_PATH.write_text(prometheus_rules())
    print(f"wrote {RULES_PATH}")
