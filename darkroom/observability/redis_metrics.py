"""Redis health on ``/metrics``: a prometheus_client collector over :class:`RedisSampler`.

Names follow oliver006/redis_exporter (namespace ``redis_``) wherever it has one, so its
dashboards and alert rules (redis-mixin, awesome-prometheus-alerts) work unchanged; what it does
not export is ``darkroom_redis_*``: derived rates and ratios, the collector's own round trip,
each check's status, and Darkroom's view of its keys. A scrape reads the latest sample, taken
anew when it is older than ``min_interval_s`` (so several scrapers cost one sample); rates are
between that sample and the one before. An unreachable Redis answers ``redis_up 0`` only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from darkroom.observability.checks import Status, Thresholds, check_health
from darkroom.observability.errors import RedisUnreachable
from darkroom.observability.redis_rates import rates
from darkroom.observability.redis_sample import RedisSample, RedisSampler, percentile

__all__ = ["RedisHealthCollector"]

_STATUS_VALUE = {Status.OK: 0, Status.WARN: 1, Status.CRITICAL: 2}


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels) if labels else None)
    family.add_metric(list(labels.values()) if labels else [], value)
    return family


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def _ok(status: str) -> int:
    return 1 if status == "ok" else 0


def _exporter_metrics(s: RedisSample) -> Iterator[Metric]:
    """What redis_exporter calls the same things."""
    i, m, c, st, p, rep = s.info, s.info.memory, s.info.clients, s.info.stats, s.info.persistence, s.info.replication
    info = GaugeMetricFamily(
        "redis_instance_info", "Information about the Redis instance.", labels=["role", "redis_version"]
    )
    info.add_metric([rep.role, i.version], 1)
    yield info
    yield _gauge("redis_uptime_in_seconds", "Seconds since the server started.", i.uptime_s)
    yield _gauge("redis_memory_used_bytes", "used_memory.", m.used_bytes)
    yield _gauge("redis_memory_used_rss_bytes", "used_memory_rss.", m.rss_bytes)
    yield _gauge("redis_memory_used_peak_bytes", "used_memory_peak.", m.peak_bytes)
    yield _gauge("redis_memory_max_bytes", "maxmemory (0: no limit).", s.config.maxmemory_bytes or m.max_bytes)
    yield _gauge("redis_total_system_memory_bytes", "total_system_memory.", m.total_system_bytes)
    yield _gauge("redis_mem_fragmentation_ratio", "mem_fragmentation_ratio (rss / used).", m.fragmentation_ratio)
    yield _gauge("redis_mem_fragmentation_bytes", "mem_fragmentation_bytes.", m.fragmentation_bytes)
    yield _counter("redis_keyspace_hits_total", "keyspace_hits.", st.keyspace_hits)
    yield _counter("redis_keyspace_misses_total", "keyspace_misses.", st.keyspace_misses)
    yield _counter("redis_evicted_keys_total", "evicted_keys.", st.evicted_keys)
    yield _counter("redis_expired_keys_total", "expired_keys.", st.expired_keys)
    db_keys = GaugeMetricFamily("redis_db_keys", "Keys per database.", labels=["db"])
    db_expiring = GaugeMetricFamily("redis_db_keys_expiring", "Keys with a TTL per database.", labels=["db"])
    for db, keys in sorted(i.keyspace.items()):
        db_keys.add_metric([f"db{db}"], keys.keys)
        db_expiring.add_metric([f"db{db}"], keys.expires)
    yield db_keys
    yield db_expiring
    yield _gauge("redis_connected_clients", "connected_clients.", c.connected)
    yield _gauge("redis_blocked_clients", "blocked_clients (BLPOP, XREAD BLOCK, WAIT…).", c.blocked)
    yield _gauge("redis_config_maxclients", "maxclients.", s.config.maxclients or c.maxclients)
    yield _gauge(
        "redis_config_maxmemory", "maxmemory as configured (0: no limit).", s.config.maxmemory_bytes or m.max_bytes
    )
    yield _counter("redis_rejected_connections_total", "Connections refused at maxclients.", st.rejected_connections)
    yield _counter("redis_connections_received_total", "total_connections_received.", st.total_connections_received)
    yield _counter("redis_commands_processed_total", "total_commands_processed.", st.commands_processed)
    calls = CounterMetricFamily("redis_commands", "Calls per command (INFO commandstats).", labels=["cmd"])
    spent = CounterMetricFamily(
        "redis_commands_duration_seconds", "Time spent per command (INFO commandstats).", labels=["cmd"]
    )
    for name, stat in sorted(i.commands.items()):
        calls.add_metric([name], stat.calls)
        spent.add_metric([name], stat.usec / 1e6)
    yield calls
    yield spent
    summary = Metric(
        "redis_latency_percentiles_usec", "Latency percentiles per command (INFO latencystats).", "summary"
    )
    for name, pcts in sorted(i.latency_percentiles_us.items()):
        for label, value in pcts.items():
            summary.add_sample(
                "redis_latency_percentiles_usec", {"cmd": name, "quantile": f"{float(label[1:]) / 100:g}"}, value
            )
        totals = i.commands.get(name)
        if totals is not None:
            summary.add_sample("redis_latency_percentiles_usec_sum", {"cmd": name}, float(totals.usec))
            summary.add_sample("redis_latency_percentiles_usec_count", {"cmd": name}, float(totals.calls))
    yield summary
    spikes = GaugeMetricFamily(
        "redis_latency_spike_duration_seconds", "Latest spike per event (LATENCY LATEST).", labels=["event_name"]
    )
    last = GaugeMetricFamily(
        "redis_latency_spike_last", "When the latest spike happened (epoch s).", labels=["event_name"]
    )
    for e in s.latency_events:
        spikes.add_metric([e.event], e.latest_ms / 1000.0)
        last.add_metric([e.event], e.at_s)
    yield spikes
    yield last
    yield _gauge("redis_slowlog_length", "Entries in the slow log.", s.slowlog_length)
    yield _counter("redis_cpu_sys_seconds_total", "used_cpu_sys.", i.cpu.sys_s)
    yield _counter("redis_cpu_user_seconds_total", "used_cpu_user.", i.cpu.user_s)
    yield _gauge("redis_connected_slaves", "Replicas connected to this master.", rep.connected_replicas)
    lag = GaugeMetricFamily(
        "redis_connected_slave_lag_seconds",
        "Seconds since each replica acknowledged.",
        labels=["slave_addr", "slave_state"],
    )
    for r in rep.replicas:
        lag.add_metric([r.address, r.state], r.lag_s)
    yield lag
    if rep.role == "slave":
        link_up = 1 if rep.master_link_status == "up" else 0
        yield _gauge("redis_master_link_up", "1 when this replica's link to its master is up.", link_up)
        yield _gauge(
            "redis_master_last_io_seconds_ago", "Seconds since the master was last heard.", rep.master_last_io_s
        )
    yield _gauge("redis_rdb_last_save_timestamp_seconds", "rdb_last_save_time.", p.rdb_last_save_time)
    yield _gauge("redis_rdb_changes_since_last_save", "rdb_changes_since_last_save.", p.rdb_changes_since_last_save)
    yield _gauge("redis_rdb_last_bgsave_status", "1 when the last BGSAVE succeeded.", _ok(p.rdb_last_bgsave_status))
    yield _gauge("redis_rdb_bgsave_in_progress", "1 while a BGSAVE runs.", int(p.rdb_bgsave_in_progress))
    yield _gauge("redis_aof_enabled", "1 when the append-only file is on.", int(p.aof_enabled))
    yield _gauge("redis_aof_rewrite_in_progress", "1 while an AOF rewrite runs.", int(p.aof_rewrite_in_progress))
    yield _gauge(
        "redis_aof_last_bgrewrite_status", "1 when the last AOF rewrite succeeded.", _ok(p.aof_last_bgrewrite_status)
    )
    yield _gauge("redis_aof_last_write_status", "1 when the last AOF write succeeded.", _ok(p.aof_last_write_status))
    yield _gauge("redis_latest_fork_seconds", "How long the latest fork paused the server.", st.latest_fork_usec / 1e6)


def _darkroom_metrics(
    s: RedisSample, previous: RedisSample | None, t: Thresholds, prefix: str, depth: bool
) -> Iterator[Metric]:
    """Derived values, the collector's own round trip, check statuses and Darkroom's keys."""
    r = rates(s, previous)
    yield _gauge("darkroom_redis_cpu_cores", "used_cpu_sys + used_cpu_user per second (1: one core busy).", r.cpu_cores)
    if r.hit_rate is not None:
        yield _gauge("darkroom_redis_hit_ratio", "keyspace hits / lookups between the last two samples.", r.hit_rate)
    yield _gauge("darkroom_redis_ops_per_second", "Commands per second between the last two samples.", r.ops_per_s)
    per_cmd = GaugeMetricFamily(
        "darkroom_redis_command_calls_per_second", "Calls per second per command.", labels=["cmd"]
    )
    for cmd in r.commands:
        per_cmd.add_metric([cmd.command], cmd.calls_per_s)
    yield per_cmd
    yield _gauge("darkroom_redis_evictions_per_second", "Keys evicted per second.", r.evictions_per_s)
    yield _gauge("darkroom_redis_expiries_per_second", "Keys expired per second.", r.expiries_per_s)
    ping = GaugeMetricFamily(
        "darkroom_redis_round_trip_seconds", "The collector's PING round trips.", labels=["quantile"]
    )
    for q, value in (("0.5", s.round_trip.p50_ms), ("0.99", s.round_trip.p99_ms), ("1", s.round_trip.max_ms)):
        ping.add_metric([q], value / 1000.0)
    yield ping
    own = sum(1 for c in s.clients or () if c.blocked and c.name.startswith(prefix))
    yield _gauge("darkroom_redis_blocked_clients_own", "Blocked clients that are Darkroom's long polls (by name).", own)
    policy = GaugeMetricFamily(
        "darkroom_redis_maxmemory_policy", "1 for the maxmemory-policy in force.", labels=["policy"]
    )
    policy.add_metric([s.config.maxmemory_policy or s.info.memory.policy], 1)
    yield policy
    recent = [e.duration_us / 1e6 for e in s.slowlog if e.at_s >= s.server_time_s - t.window_s]
    yield _gauge(
        "darkroom_redis_slowlog_recent_p95_seconds",
        "p95 of the slow-log entries of the checks' window (0 without one).",
        percentile(recent, 95) if recent else 0.0,
    )
    report = check_health(s, previous, thresholds=t, client_prefix=prefix)
    status = GaugeMetricFamily("darkroom_redis_check_status", "Each check: 0 ok, 1 warn, 2 critical.", labels=["check"])
    for check in report.checks:
        status.add_metric([check.name], _STATUS_VALUE[check.status])
    yield status
    ks = s.keyspace
    if ks is None:
        return
    if depth:
        messages = GaugeMetricFamily(
            "darkroom_queue_messages", "Messages per queue and state.", labels=["queue", "state"]
        )
        for d in ks.depths:
            messages.add_metric([d.queue, d.state], d.messages)
        yield messages
    keys = GaugeMetricFamily("darkroom_redis_keys", "Keys of a Darkroom family, by SCAN.", labels=["family"])
    complete = GaugeMetricFamily(
        "darkroom_redis_keys_complete", "0 when the count stopped at its budget (a lower bound).", labels=["family"]
    )
    for count in ks.counts:
        keys.add_metric([count.family], count.keys)
        complete.add_metric([count.family], int(count.complete))
    yield keys
    yield complete
    length = GaugeMetricFamily("darkroom_redis_stream_length", "Entries in an event stream.", labels=["stream"])
    lag = GaugeMetricFamily(
        "darkroom_redis_stream_group_lag", "Entries a consumer group has yet to read.", labels=["stream", "group"]
    )
    pending = GaugeMetricFamily(
        "darkroom_redis_stream_group_pending", "Entries read but not acknowledged.", labels=["stream", "group"]
    )
    consumers = GaugeMetricFamily(
        "darkroom_redis_stream_group_consumers", "Consumers in a group.", labels=["stream", "group"]
    )
    for stream in ks.streams:
        length.add_metric([stream.stream], stream.length)
        for g in stream.groups:
            if g.lag is not None:
                lag.add_metric([stream.stream, g.name], g.lag)
            pending.add_metric([stream.stream, g.name], g.pending)
            consumers.add_metric([stream.stream, g.name], g.consumers)
    yield from (length, lag, pending, consumers)


class RedisHealthCollector(Collector):
    """``queue_depth``: also export ``darkroom_queue_messages`` (off beside a
    :class:`~darkroom.queue.metrics.QueueCollector`, which exports it already)."""

    def __init__(
        self,
        sampler: RedisSampler,
        *,
        min_interval_s: float = 5.0,
        thresholds: Thresholds | None = None,
        queue_depth: bool = True,
    ) -> None:
        self.sampler = sampler
        self.min_interval_s = min_interval_s
        self.thresholds = thresholds or Thresholds()
        self.queue_depth = queue_depth
        self._lock = threading.Lock()
        self._latest: RedisSample | None = None
        self._previous: RedisSample | None = None
        self._seconds = 0.0
        self._taken = 0.0

    def describe(self) -> Iterable[Metric]:
        return ()  # registering must not touch Redis

    def latest(self) -> tuple[RedisSample, RedisSample | None]:
        """The latest sample (taken now if the last is older than ``min_interval_s``) and the one before."""
        with self._lock:
            now = time.monotonic()
            if self._latest is None or now - self._taken >= self.min_interval_s:
                sample = self.sampler.sample()
                self._taken = now
                self._seconds = time.monotonic() - now
                self._previous, self._latest = self._latest, sample
            return self._latest, self._previous

    def collect(self) -> Iterator[Metric]:
        try:
            sample, previous = self.latest()
        except RedisUnreachable:
            yield _gauge("redis_up", "1 when the last sample could read Redis.", 0)
            return
        yield _gauge("redis_up", "1 when the last sample could read Redis.", 1)
        yield _gauge("darkroom_redis_sample_seconds", "Time the latest sample took.", self._seconds)
        yield from _exporter_metrics(sample)
        prefix = self.sampler.layout.client_prefix if self.sampler.layout else "darkroom:"
        yield from _darkroom_metrics(sample, previous, self.thresholds, prefix, self.queue_depth)
