"""Queue metrics after real operations: the client observer and the scrape-time collector."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry

import darkroom.queue as dq
from darkroom.observability import new_registry, serve_metrics
from darkroom.queue.metrics import EVENT_KINDS, PrometheusObserver, QueueCollector


@pytest.fixture
def registry() -> CollectorRegistry:
    return new_registry(runtime=False)


@pytest.fixture
def observed(redis_client: redis.Redis, registry: CollectorRegistry) -> Iterator[dq.RedisQueue]:
    q = dq.RedisQueue(redis_client, observer=PrometheusObserver(registry))
    yield q
    q.close()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a real /metrics endpoint, keyed by name and sorted labels."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_observer_records_dequeue_lateness_failures_and_lost(
    observed: dq.RedisQueue, registry: CollectorRegistry
) -> None:
    q = observed
    q.create_queue("m", max_attempts=5)
    now = time.time()
    q.enqueue("m", b"late", deadline=now - 100)
    q.enqueue("m", b"early", deadline=now + 100)
    q.enqueue("m", b"flaky", deadline=now + 1000)
    late, early, flaky = q.dequeue("m", max_messages=3)
    assert q.dequeue("m") == []
    assert q.complete(late) > 90
    assert q.complete(early) < -90
    q.fail(flaky, "boom")
    with pytest.raises(dq.LeaseLost):
        q.complete(flaky)  # given back already: the lease is gone

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"queue": "m", **labels})

    assert value("darkroom_queue_client_dequeue_seconds_count", outcome="messages") == 1
    assert value("darkroom_queue_client_dequeue_seconds_count", outcome="empty") == 1
    hist = "darkroom_queue_completion_lateness_seconds_bucket"
    assert value(hist, le="-60.0") == 1  # the early one, 100 s ahead
    assert value(hist, le="-300.0") == 0
    assert value(hist, le="0.0") == 1
    assert value(hist, le="60.0") == 1
    assert value(hist, le="300.0") == 2  # the late one, 100 s behind
    assert value("darkroom_queue_completion_lateness_seconds_count") == 2
    assert value("darkroom_queue_client_failures_total") == 1
    assert value("darkroom_queue_client_leases_lost_total") == 1


def test_collector_exports_redis_counters_depths_and_lateness(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    registry = new_registry()
    registry.register(QueueCollector(redis_client))
    rq.create_queue("enc", max_attempts=1)
    rq.create_queue("wf", exclusivity_key="asset")
    now = time.time()
    rq.enqueue_many("enc", [dq.NewMessage(b"", deadline=now - 120) for _ in range(5)])
    rq.enqueue("enc", b"", delay_s=3600)
    a, b = rq.dequeue("enc", max_messages=2)
    rq.complete(a)
    rq.fail(b, "bad input", retry=False)
    assert rq.cancel("enc", rq.enqueue("enc", b""))
    for asset in ("a1", "a1", "a2", "a3"):
        rq.enqueue("wf", b"", metadata={"asset": asset})
    assert len(rq.dequeue("wf", max_messages=10)) == 3  # one per asset

    with serve_metrics(registry) as server:
        samples = scrape(server.url)

    def get(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert get("darkroom_queue_redis_up") == 1
    assert get("darkroom_queue_queues") == 2
    assert get("darkroom_queue_events_total", queue="enc", event="enqueued") == 7
    assert get("darkroom_queue_events_total", queue="enc", event="dequeued") == 2
    assert get("darkroom_queue_events_total", queue="enc", event="completed") == 1
    assert get("darkroom_queue_events_total", queue="enc", event="failed") == 1
    assert get("darkroom_queue_events_total", queue="enc", event="canceled") == 1
    for kind in EVENT_KINDS:  # every kind is a series from the start
        assert ("darkroom_queue_events_total", (("event", kind), ("queue", "wf"))) in samples
    depth = {s.value: get("darkroom_queue_messages", queue="enc", state=s.value) for s in dq.State}
    assert depth == {"invisible": 1, "pending": 3, "running": 0, "completed": 1, "canceled": 1, "errored": 1}
    assert get("darkroom_queue_messages", queue="wf", state="running") == 3
    assert get("darkroom_queue_messages", queue="wf", state="pending") == 1
    assert get("darkroom_queue_exclusive_values_running", queue="wf") == 3
    assert get("darkroom_queue_exclusive_values_running", queue="enc") == 0
    assert 115 < get("darkroom_queue_oldest_pending_lateness_seconds", queue="enc") < 300
    assert get("darkroom_queue_oldest_pending_lateness_seconds", queue="wf") < 5
    assert ("process_cpu_seconds_total", ()) in samples  # the process collectors ride along


def test_collector_bounds_the_number_of_queues(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    for name in ("q1", "q2", "q3"):
        rq.create_queue(name)
    registry = new_registry(runtime=False)
    registry.register(QueueCollector(redis_client, max_queues=2))
    assert registry.get_sample_value("darkroom_queue_queues") == 3
    assert registry.get_sample_value("darkroom_queue_messages", {"queue": "q2", "state": "pending"}) == 0
    assert registry.get_sample_value("darkroom_queue_messages", {"queue": "q3", "state": "pending"}) is None


def test_collector_reports_redis_down_without_failing_the_scrape() -> None:
    registry = new_registry()
    # no retries: redis-py's default backoff would only make the test slow
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    registry.register(QueueCollector(client))  # registering does not touch Redis
    with serve_metrics(registry) as server:
        samples = scrape(server.url)
    assert samples[("darkroom_queue_redis_up", ())] == 0
    assert ("process_cpu_seconds_total", ()) in samples
    client.close()
