"""The platform's own checks, beside Redis's (``checks.py``): queue depth and deadline lateness,
workers that stopped announcing themselves, and consumer groups falling behind the events stream.

What Darkroom can judge by itself from shared state (Redis and the worker directory), for the
embedded setup where no Prometheus runs; the alert rules (``rules.py``) judge the same values with
the same :class:`PlatformThresholds`, plus what only per-process metrics show (workflow failure
rate, heartbeat failures, the HTTP edge).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from darkroom.observability.checks import Check, Limit, Status
from darkroom.observability.errors import RedisUnreachable
from darkroom.observability.redis_sample import RedisSample, RedisSampler
from darkroom.queue.models import State
from darkroom.runtime.directory import WorkerDirectory

__all__ = [
    "PLATFORM_CHECK_NAMES",
    "PlatformSignals",
    "PlatformThresholds",
    "WorkersCollector",
    "platform_checks",
    "read_signals",
]


# the defaults (module constants: a dataclass default must not be a call)
_QUEUE_DEPTH = Limit(1000, 10000, "messages")  # ready messages in one queue
_QUEUE_LATENESS_S = Limit(60, 600, "s")  # the most urgent ready message past its deadline
_WORKERS = Limit(1, 0, "workers", below=True)  # none announced: warn (never critical: 0 is a choice)
_HEARTBEAT_FAILURES = Limit(1, 10, "failures")  # lease extensions failed in 10 min
_WORKFLOW_FAILURE = Limit(0.1, 0.25, "ratio")  # failed / finished runs over 15 min
_EVENTS_LAG = Limit(1000, 10000, "entries")  # stream entries a consumer group has yet to read
_HTTP_ERROR_RATE = Limit(0.01, 0.05, "ratio")  # 5xx / requests over 5 min
_HTTP_LATENCY_S = Limit(0.5, 2.0, "s")  # p99 of request durations over 5 min
_OUTBOX_AGE_S = Limit(60, 600, "s")  # the oldest outbox row not relayed yet (the relay idles at most 1 s)


@dataclass(frozen=True, slots=True)
class PlatformThresholds:
    """The platform's limits (docs/observability.md, "Alert rules" and the runbook, says what each means)."""

    queue_depth: Limit = _QUEUE_DEPTH
    queue_lateness_s: Limit = _QUEUE_LATENESS_S
    workers: Limit = _WORKERS
    heartbeat_failures: Limit = _HEARTBEAT_FAILURES
    workflow_failure: Limit = _WORKFLOW_FAILURE
    workflow_min_runs: int = 5  # fewer finished runs in 15 min are not judged
    events_lag: Limit = _EVENTS_LAG
    http_error_rate: Limit = _HTTP_ERROR_RATE
    http_latency_s: Limit = _HTTP_LATENCY_S
    outbox_age_s: Limit = _OUTBOX_AGE_S


@dataclass(frozen=True, slots=True)
class PlatformSignals:
    """What the platform checks read beside the Redis sample."""

    lateness_s: dict[str, float]  # per queue: how far past its deadline the most urgent ready message is
    live_workers: int | None  # None: no worker directory known


def read_signals(sampler: RedisSampler, workers: WorkerDirectory | None) -> PlatformSignals:
    """The head of every queue's ready set (one pipeline, with Redis's clock) and the live workers."""
    lateness: dict[str, float] = {}
    keys = sampler.keys
    try:
        if keys is not None:
            members = sampler.client.execute_command("SMEMBERS", keys.registry)
            names = sorted(n.decode() if isinstance(n, bytes) else str(n) for n in members)
            pipe = sampler.client.pipeline(transaction=False)
            pipe.time()
            for name in names:
                pipe.zrange(keys.state_set(name, State.PENDING), 0, 0, withscores=True)
            now, *heads = pipe.execute()
            now_s = now[0] + now[1] / 1e6
            for name, head in zip(names, heads, strict=True):
                lateness[name] = max(0.0, now_s - head[0][1] / 1000.0) if head else 0.0
        live = len(workers.live()) if workers is not None else None
    except (redis.RedisError, OSError) as exc:
        raise RedisUnreachable(f"Redis at {sampler.where} is unreachable: {exc}") from exc
    return PlatformSignals(lateness, live)


def _worst(values: dict[str, float]) -> tuple[str, float]:
    return max(values.items(), key=lambda kv: kv[1], default=("", 0.0))


def _queue_depth(s: RedisSample, t: PlatformThresholds) -> Check:
    depths = {d.queue: float(d.messages) for d in s.keyspace.depths if d.state == State.PENDING} if s.keyspace else {}
    queue, depth = _worst(depths)
    if not depths:
        return Check("queue_depth", Status.OK, 0.0, t.queue_depth, "no queues")
    message = f"{depth:.0f} ready in {queue}, the deepest of {len(depths)} queue(s)"
    return Check("queue_depth", t.queue_depth.status(depth), depth, t.queue_depth, message)


def _queue_lateness(p: PlatformSignals, t: PlatformThresholds) -> Check:
    queue, late = _worst(p.lateness_s)
    if late <= 0:
        return Check("queue_lateness", Status.OK, 0.0, t.queue_lateness_s, "every ready message is within its deadline")
    message = f"the most urgent ready message of {queue} is {late:.0f} s past its deadline"
    return Check("queue_lateness", t.queue_lateness_s.status(late), round(late, 3), t.queue_lateness_s, message)


def _workers(p: PlatformSignals, t: PlatformThresholds) -> Check:
    if p.live_workers is None:
        return Check("workers", Status.OK, None, t.workers, "no worker directory known here")
    n = float(p.live_workers)
    message = f"{p.live_workers} worker(s) announced themselves" if n else "no worker announced itself lately"
    return Check("workers", t.workers.status(n), n, t.workers, message)


def _events_lag(s: RedisSample, t: PlatformThresholds) -> Check:
    lags = {
        f"{stream.stream} {g.name}": float(g.lag)
        for stream in (s.keyspace.streams if s.keyspace else ())
        for g in stream.groups
        if g.lag is not None
    }
    group, lag = _worst(lags)
    if not lags:
        return Check("events_lag", Status.OK, 0.0, t.events_lag, "no consumer groups")
    message = f"{lag:.0f} entries unread by {group}, the furthest behind of {len(lags)} group(s)"
    return Check("events_lag", t.events_lag.status(lag), lag, t.events_lag, message)


PLATFORM_CHECK_NAMES = ("queue_depth", "queue_lateness", "workers", "events_lag")


def platform_checks(
    sample: RedisSample, signals: PlatformSignals, thresholds: PlatformThresholds | None = None
) -> tuple[Check, ...]:
    """The platform checks, in :data:`PLATFORM_CHECK_NAMES` order."""
    t = thresholds or PlatformThresholds()
    return (_queue_depth(sample, t), _queue_lateness(signals, t), _workers(signals, t), _events_lag(sample, t))


class WorkersCollector(Collector):
    """``darkroom_workers_live``: workers announced in the directory, read at scrape time (the
    ``DarkroomWorkersMissing`` rule's value; absent while Redis cannot be read)."""

    def __init__(self, directory: WorkerDirectory) -> None:
        self.directory = directory

    def describe(self) -> Iterable[Metric]:
        return ()  # registering must not touch Redis

    def collect(self) -> Iterator[Metric]:
        try:
            live = self.directory.live()
        except (redis.RedisError, OSError):
            return
        family = GaugeMetricFamily("darkroom_workers_live", "Workers that announced themselves lately (heartbeats).")
        family.add_metric([], len(live))
        yield family
