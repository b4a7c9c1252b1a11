"""Prometheus metrics of the queue.

Two sources, kept apart on purpose:

* :class:`PrometheusObserver` — what only a client sees (how long a dequeue took, how late a
  completion was), per process; pass it as ``RedisQueue(client, observer=...)``.
* :class:`QueueCollector` — what Redis knows, read at scrape time: the per-queue event counters
  the Lua scripts keep, depth per state, exclusivity values running, lateness of the most urgent
  pending message. Exact across every process, so only one process needs to export it.

Lateness is one histogram of *signed* seconds (completion minus deadline): negative buckets are
completions ahead of their deadline, positive ones late, so ``le="0"`` over ``_count`` is the
on-time ratio and ``histogram_quantile`` works across both sides. Its ``_sum`` can decrease, so
do not ``rate()`` it (Prometheus would read a decrease as a counter reset).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from darkroom.queue.keys import Keys
from darkroom.queue.models import State

__all__ = ["DEQUEUE_BUCKETS_S", "EVENT_KINDS", "LATENESS_BUCKETS_S", "PrometheusObserver", "QueueCollector"]

LATENESS_BUCKETS_S: tuple[float, ...] = (
    -3600, -900, -300, -60, -10, -1, -0.1, 0, 0.1, 1, 10, 60, 300, 900, 3600, math.inf,
)  # fmt: skip
DEQUEUE_BUCKETS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, math.inf,
)  # fmt: skip
# Event kinds the scripts count (lua/_lib.lua ``event``); always exported so series start at 0.
EVENT_KINDS = (
    "enqueued", "dequeued", "completed", "failed", "expired", "canceled", "redriven", "updated", "promoted", "dropped",
)  # fmt: skip
_STATES = tuple(State)


class PrometheusObserver:
    """A :class:`~darkroom.queue.observer.QueueObserver` recording into ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.dequeue_seconds = Histogram(
            "darkroom_queue_client_dequeue_seconds",
            "Time a dequeue call took, long-poll wait included; outcome is messages or empty.",
            ["queue", "outcome"],
            buckets=DEQUEUE_BUCKETS_S,
            registry=registry,
        )
        self.lateness_seconds = Histogram(
            "darkroom_queue_completion_lateness_seconds",
            "Completion time minus deadline (negative: early); do not rate() the _sum.",
            ["queue"],
            buckets=LATENESS_BUCKETS_S,
            registry=registry,
        )
        self.failures = Counter(
            "darkroom_queue_client_failures",
            "Leases this process gave back with an error (retried or not).",
            ["queue"],
            registry=registry,
        )
        self.lost = Counter(
            "darkroom_queue_client_leases_lost",
            "Completions or failures refused because the lease was no longer held.",
            ["queue"],
            registry=registry,
        )

    def dequeued(self, queue: str, count: int, seconds: float) -> None:
        self.dequeue_seconds.labels(queue, "messages" if count else "empty").observe(seconds)

    def settled(self, queue: str, lateness_s: Sequence[float], failed: int, lost: int) -> None:
        if lateness_s:
            histogram = self.lateness_seconds.labels(queue)
            for seconds in lateness_s:
                histogram.observe(seconds)
        if failed:
            self.failures.labels(queue).inc(failed)
        if lost:
            self.lost.labels(queue).inc(lost)


def _families() -> dict[str, CounterMetricFamily | GaugeMetricFamily]:
    return {
        "events": CounterMetricFamily(
            "darkroom_queue_events",
            "State changes per queue, counted by the queue's scripts.",
            labels=["queue", "event"],
        ),
        "messages": GaugeMetricFamily(
            "darkroom_queue_messages", "Messages per queue and state.", labels=["queue", "state"]
        ),
        "values": GaugeMetricFamily(
            "darkroom_queue_exclusive_values_running",
            "Exclusive queues: exclusivity values with at least one running message.",
            labels=["queue"],
        ),
        "lateness": GaugeMetricFamily(
            "darkroom_queue_oldest_pending_lateness_seconds",
            "How far past its deadline the most urgent pending message is (0 when on time or none).",
            labels=["queue"],
        ),
        "up": GaugeMetricFamily("darkroom_queue_redis_up", "1 when the last scrape could read Redis."),
        "queues": GaugeMetricFamily("darkroom_queue_queues", "Queues in the namespace."),
        "seconds": GaugeMetricFamily("darkroom_queue_collect_seconds", "Time the last scrape spent reading Redis."),
    }


class QueueCollector(Collector):
    """Reads every queue's state from Redis at scrape time: one pipeline per queue.

    ``max_queues`` bounds a scrape; queues beyond it (by name) are left out. Running messages are
    not broken down per exclusivity value in labels: the values are ids (assets, workflows), an
    unbounded label set.
    """

    def __init__(self, client: redis.Redis, *, namespace: str = "dr", max_queues: int = 1000) -> None:
        self.client = client
        self.keys = Keys(namespace)
        self.max_queues = max_queues

    def describe(self) -> Iterable[Metric]:
        # registering must not touch Redis, so describe without collecting
        return _families().values()

    def collect(self) -> Iterator[Metric]:
        fam = _families()
        started = time.monotonic()
        try:
            names = self._collect_into(fam)
        except redis.RedisError:
            # a scrape must still answer (process metrics, up=0) while Redis is away
            fam["up"].add_metric([], 0)
            yield fam["up"]
            return
        fam["up"].add_metric([], 1)
        fam["queues"].add_metric([], names)
        fam["seconds"].add_metric([], time.monotonic() - started)
        yield from fam.values()

    def _collect_into(self, fam: dict[str, CounterMetricFamily | GaugeMetricFamily]) -> int:
        keys = self.keys
        names = sorted(n.decode() for n in self.client.smembers(keys.registry))  # type: ignore[union-attr]
        for queue in names[: self.max_queues]:
            pipe = self.client.pipeline(transaction=False)
            pipe.hgetall(keys.counters(queue))
            pipe.time()
            pipe.hlen(keys.running_per_value(queue))
            pipe.zrange(keys.state_set(queue, State.PENDING), 0, 0, withscores=True)
            for state in _STATES:
                pipe.zcard(keys.state_set(queue, state))
            counters, now, values, head, *depths = pipe.execute()
            counts = {k.decode(): int(v) for k, v in counters.items()}
            for kind in EVENT_KINDS + tuple(sorted(set(counts) - set(EVENT_KINDS))):
                fam["events"].add_metric([queue, kind], counts.get(kind, 0))
            for state, depth in zip(_STATES, depths, strict=True):
                fam["messages"].add_metric([queue, state.value], int(depth))
            fam["values"].add_metric([queue], int(values))
            now_s = now[0] + now[1] / 1e6
            fam["lateness"].add_metric([queue], max(0.0, now_s - head[0][1] / 1000.0) if head else 0.0)
        return len(names)
