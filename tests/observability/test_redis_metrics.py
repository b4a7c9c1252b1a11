"""The Redis health collector: redis_exporter's names, Darkroom's own, and ``/metrics`` of the queue
service (where the platform also warns about an evicting maxmemory-policy)."""

from __future__ import annotations

import logging
import urllib.request

import grpc
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import darkroom.queue as dq
from darkroom._proto.darkroom.queue.v1 import queue_pb2, queue_pb2_grpc
from darkroom.config import Settings
from darkroom.local.queue_service import QueueService, ServiceThread
from darkroom.observability import RedisHealthCollector, RedisSampler, new_registry
from darkroom.social import keys as social_keys
from tests.observability.conftest import Health

# redis_exporter's names for what the collector reads (its exporter/info.go, latency.go)
EXPORTER_NAMES = (
    "redis_up", "redis_instance_info", "redis_uptime_in_seconds", "redis_memory_used_bytes",
    "redis_memory_used_rss_bytes", "redis_memory_max_bytes", "redis_total_system_memory_bytes",
    "redis_mem_fragmentation_ratio", "redis_keyspace_hits_total", "redis_keyspace_misses_total",
    "redis_evicted_keys_total", "redis_expired_keys_total", "redis_db_keys", "redis_connected_clients",
    "redis_blocked_clients", "redis_config_maxclients", "redis_rejected_connections_total",
    "redis_commands_processed_total", "redis_commands_total", "redis_commands_duration_seconds_total",
    "redis_latency_percentiles_usec", "redis_latency_spike_duration_seconds", "redis_slowlog_length",
    "redis_cpu_user_seconds_total", "redis_cpu_sys_seconds_total", "redis_connected_slaves",
    "redis_rdb_last_save_timestamp_seconds", "redis_rdb_last_bgsave_status", "redis_aof_last_bgrewrite_status",
    "redis_latest_fork_seconds",
)  # fmt: skip
DARKROOM_NAMES = (
    "darkroom_redis_cpu_cores", "darkroom_redis_hit_ratio", "darkroom_redis_ops_per_second",
    "darkroom_redis_command_calls_per_second", "darkroom_redis_evictions_per_second",
    "darkroom_redis_round_trip_seconds", "darkroom_redis_check_status", "darkroom_queue_messages",
    "darkroom_redis_keys", "darkroom_redis_stream_length", "darkroom_redis_stream_group_lag",
    "darkroom_redis_stream_group_pending",
)  # fmt: skip


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_a_scrape_has_the_exporters_names_and_darkrooms(health: Health) -> None:
    queue = dq.RedisQueue(health.client())
    queue.create_queue("encode")
    queue.enqueue("encode", b"a")
    health.admin.set("k", "v")
    health.admin.get("k")
    health.admin.execute_command("DEBUG", "SLEEP", "0.01")  # a latency spike (threshold 5 ms)
    health.admin.xadd(social_keys.EVENTS, {"n": 1})
    health.admin.xgroup_create(social_keys.EVENTS, "fanout", id="0")
    registry = new_registry(runtime=False)
    registry.register(RedisHealthCollector(health.sampler(), min_interval_s=0))
    generate_latest(registry)  # a first sample: the rates come from the second
    health.admin.get("k")  # a lookup in between: the hit ratio has something to divide
    samples = _samples(generate_latest(registry).decode())
    missing = [n for n in EXPORTER_NAMES + DARKROOM_NAMES if n not in samples]
    assert not missing
    assert samples["redis_up"] == [({}, 1.0)]
    assert ({"cmd": "set"}, 1.0) in samples["redis_commands_total"]
    assert ({"event_name": "command"}, pytest.approx(0.01, abs=0.01)) in samples["redis_latency_spike_duration_seconds"]
    assert ({"queue": "encode", "state": "pending"}, 1.0) in samples["darkroom_queue_messages"]
    assert ({"stream": social_keys.EVENTS, "group": "fanout"}, 1.0) in samples["darkroom_redis_stream_group_lag"]
    assert {labels["check"] for labels, _ in samples["darkroom_redis_check_status"]} >= {"latency", "memory"}
    queue.close()


def test_scrapes_within_the_interval_share_one_sample(health: Health) -> None:
    collector = RedisHealthCollector(health.sampler(), min_interval_s=3600)
    first, _ = collector.latest()
    again, previous = collector.latest()
    assert again is first and previous is None


def test_an_unreachable_redis_scrapes_as_down(health: Health) -> None:
    registry = new_registry(runtime=False)
    registry.register(RedisHealthCollector(health.sampler()))
    health.server.stop()
    assert _samples(generate_latest(registry).decode()) == {"redis_up": [({}, 0.0)]}


def test_a_redis_that_cannot_be_read_scrapes_as_down_not_as_a_failed_scrape(health: Health) -> None:
    """A database index the server lacks: ``redis_up 0``, the registry's other metrics still served."""
    registry = new_registry(runtime=False)
    sampler = RedisSampler.from_url(f"{health.url}&db=99")
    registry.register(RedisHealthCollector(sampler))
    assert _samples(generate_latest(registry).decode()) == {"redis_up": [({}, 0.0)]}
    sampler.close()


def test_the_queue_service_exports_redis_health_and_warns_about_eviction(
    health: Health, caplog: pytest.LogCaptureFixture
) -> None:
    health.admin.config_set("maxmemory-policy", "allkeys-lru")
    service = QueueService(Settings(redis_url=health.url), grpc=False, metrics_port=0)
    with caplog.at_level(logging.WARNING, logger="darkroom.local.queue_service"), ServiceThread(service):
        assert service.metrics is not None
        text = urllib.request.urlopen(service.metrics.url, timeout=10).read().decode()
        names = [c["name"] for c in health.admin.client_list()]
    assert "maxmemory-policy is allkeys-lru, not noeviction" in caplog.text
    samples = _samples(text)
    assert "redis_memory_used_bytes" in samples and "darkroom_redis_check_status" in samples
    assert text.count("# TYPE darkroom_queue_messages ") == 1  # the queue's collector exports depth
    assert "darkroom:metrics" in names and "darkroom:health" in names


def test_the_queue_service_is_quiet_under_noeviction(health: Health, caplog: pytest.LogCaptureFixture) -> None:
    service = QueueService(Settings(redis_url=health.url), grpc=False, metrics_port=-1)
    with caplog.at_level(logging.WARNING, logger="darkroom.local.queue_service"), ServiceThread(service):
        pass
    assert "maxmemory-policy" not in caplog.text


def test_the_queue_service_exports_its_grpc_calls(health: Health) -> None:
    settings = Settings(redis_url=health.url, grpc_auth="none")
    service = QueueService(settings, grpc_addr="127.0.0.1:0", metrics_port=0)
    with ServiceThread(service), grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        queue_pb2_grpc.QueueServiceStub(channel).ListQueues(queue_pb2.ListQueuesRequest())
        assert service.metrics is not None
        text = urllib.request.urlopen(service.metrics.url, timeout=10).read().decode()
    calls = _samples(text)["darkroom_grpc_requests_total"]
    assert ({"service": "darkroom.queue.v1.QueueService", "method": "ListQueues", "code": "OK"}, 1.0) in calls
