"""The platform's own checks, beside Redis's (``checks.py``): queue depth and deadline lateness,
workers that stopped announcing themselves, consumer groups falling behind the events stream,
workers failing to extend their leases, workflows failing, and the HTTP edge's errors and p99.

What Darkroom judges by itself for the embedded setup where no Prometheus runs: from Redis (the
queues, the worker directory and its record of failed lease extensions), the workflow store
(``workflow_outcomes.py``) and the HTTP counters (``http_window.py``). The alert rules
(``rules.py``) judge the same values with the same :class:`PlatformThresholds` from the
processes' metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import redis
import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from darkroom.observability.checks import Check, Limit, Status
from darkroom.observability.errors import RedisUnreachable
from darkroom.observability.http_window import HttpRates, HttpWindow
from darkroom.observability.redis_sample import RedisSample, RedisSampler
from darkroom.observability.workflow_outcomes import Outcomes, finished_runs
from darkroom.queue.models import State
from darkroom.runtime.directory import HEARTBEAT_WINDOW_S, WorkerDirectory

__all__ = [
    "PLATFORM_CHECK_NAMES",
    "OutboxAge",
    "PlatformSignals",
    "PlatformThresholds",
    "WORKFLOW_WINDOW_S",
    "WorkersCollector",
    "platform_checks",
    "read_signals",
]


OutboxAge = Callable[[float], float]
"""How long the oldest outbox row not relayed yet has waited at a time, in s (0 when none waits):
the social product's outbox, which this package may not import, handed in by the composition root."""

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
WORKFLOW_WINDOW_S = 900.0  # runs that ended in the last 15 min (the DarkroomWorkflowFailures rule's)


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


@dataclass(slots=True)
class PlatformSignals:
    """What the platform checks read beside the Redis sample."""

    lateness_s: dict[str, float]  # per queue: how far past its deadline the most urgent ready message is
    live_workers: int | None  # None: no worker directory known
    heartbeat_failures: dict[str, int] | None = None  # per worker, in the window; None: no directory
    workflows: dict[str, Outcomes] | None = None  # per workflow, runs ended in the window; None: no store
    http: HttpRates | None = None  # None: no HTTP counters here
    outbox_age_s: float | None = None  # the oldest row not relayed yet (0: none); None: no outbox known
    unread: dict[str, str] = field(default_factory=dict)  # check -> why its source could not be read


def read_signals(
    sampler: RedisSampler,
    workers: WorkerDirectory | None,
    *,
    database: sa.Engine | None = None,
    http: HttpWindow | None = None,
    outbox: OutboxAge | None = None,
    now_s: float | None = None,
) -> PlatformSignals:
    """The head of every queue's ready set (one pipeline, with Redis's clock), the live workers and
    their failed lease extensions; with ``database``, how workflows ended; with ``http``, the
    edge's window; with ``outbox``, how long the oldest outbox row has waited. ``now_s`` (tests)
    stands for the clock, Redis's included."""
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
            now_redis_s = now[0] + now[1] / 1e6 if now_s is None else now_s
            for name, head in zip(names, heads, strict=True):
                lateness[name] = max(0.0, now_redis_s - head[0][1] / 1000.0) if head else 0.0
        live = len(workers.live()) if workers is not None else None
        failures = workers.heartbeat_failures(now_s=now_s) if workers is not None else None
    except (redis.RedisError, OSError) as exc:
        raise RedisUnreachable(f"Redis at {sampler.where} is unreachable: {exc}") from exc
    signals = PlatformSignals(lateness, live, failures)
    at_s = time.time() if now_s is None else now_s
    if database is not None:
        try:
            signals.workflows = finished_runs(database, at_s - WORKFLOW_WINDOW_S)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            signals.unread["workflow_failure"] = f"the workflow store could not be read: {type(exc).__name__}"
    if outbox is not None:
        try:
            signals.outbox_age_s = outbox(at_s)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            signals.unread["outbox_backlog"] = f"the outbox could not be read: {type(exc).__name__}"
    if http is not None:
        try:
            signals.http = http.observe(at_s)
        except (OSError, ValueError) as exc:
            why = f"the HTTP metrics at {http.source.where} could not be read: {exc}"
            signals.unread["http_errors"] = signals.unread["http_latency"] = why
    return signals


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


def _heartbeat_failures(p: PlatformSignals, t: PlatformThresholds) -> Check:
    limit = t.heartbeat_failures
    if p.heartbeat_failures is None:
        return Check("heartbeat_failures", Status.OK, None, limit, "no worker directory known here")
    worker, worst = _worst({k: float(v) for k, v in p.heartbeat_failures.items()})
    minutes = f"{HEARTBEAT_WINDOW_S / 60:.0f} min"
    if not worst:
        return Check("heartbeat_failures", Status.OK, 0.0, limit, f"no lease extension failed in {minutes}")
    total = sum(p.heartbeat_failures.values())
    message = (
        f"{worst:.0f} lease extension(s) of worker {worker} failed in {minutes} "
        f"({total} across {len(p.heartbeat_failures)} worker(s))"
    )
    return Check("heartbeat_failures", limit.status(worst), worst, limit, message)


def _workflow_failure(p: PlatformSignals, t: PlatformThresholds) -> Check:
    limit, minutes = t.workflow_failure, f"{WORKFLOW_WINDOW_S / 60:.0f} min"
    if "workflow_failure" in p.unread:
        return Check("workflow_failure", Status.OK, None, limit, p.unread["workflow_failure"])
    if p.workflows is None:
        return Check("workflow_failure", Status.OK, None, limit, "no workflow store known here")
    judged = {name: o for name, o in p.workflows.items() if o.finished >= t.workflow_min_runs}
    if not judged:
        message = f"no workflow had {t.workflow_min_runs} runs end in {minutes}"
        return Check("workflow_failure", Status.OK, 0.0, limit, message)
    name, worst = max(judged.items(), key=lambda kv: kv[1].failure_ratio)
    ratio = round(worst.failure_ratio, 4)
    message = f"{worst.failed} of {worst.finished} runs of {name} failed in {minutes}"
    return Check("workflow_failure", limit.status(ratio), ratio, limit, message)


def _outbox_backlog(p: PlatformSignals, t: PlatformThresholds) -> Check:
    limit = t.outbox_age_s
    if "outbox_backlog" in p.unread:
        return Check("outbox_backlog", Status.OK, None, limit, p.unread["outbox_backlog"])
    if p.outbox_age_s is None:
        return Check("outbox_backlog", Status.OK, None, limit, "no outbox known here")
    age = round(p.outbox_age_s, 1)
    if age <= 0:
        return Check("outbox_backlog", Status.OK, 0.0, limit, "every outbox row is relayed")
    message = f"the oldest outbox row not relayed to the events stream has waited {age:g} s"
    return Check("outbox_backlog", limit.status(age), age, limit, message)


def _over(rates: HttpRates) -> str:
    return f"in {rates.seconds:.0f} s" if rates.seconds > 0 else "since the HTTP server started"


def _http_errors(p: PlatformSignals, t: PlatformThresholds) -> Check:
    limit = t.http_error_rate
    if "http_errors" in p.unread:
        return Check("http_errors", Status.OK, None, limit, p.unread["http_errors"])
    if p.http is None:
        return Check("http_errors", Status.OK, None, limit, "no HTTP metrics read here")
    if p.http.requests <= 0:
        return Check("http_errors", Status.OK, 0.0, limit, f"no HTTP request {_over(p.http)}")
    ratio = round(p.http.error_ratio, 4)
    errors = p.http.error_ratio * p.http.requests
    message = f"{errors:.0f} of {p.http.requests:.0f} HTTP requests answered 5xx {_over(p.http)}"
    return Check("http_errors", limit.status(ratio), ratio, limit, message)


def _http_latency(p: PlatformSignals, t: PlatformThresholds) -> Check:
    limit = t.http_latency_s
    if "http_latency" in p.unread:
        return Check("http_latency", Status.OK, None, limit, p.unread["http_latency"])
    if p.http is None:
        return Check("http_latency", Status.OK, None, limit, "no HTTP metrics read here")
    if p.http.p99_s is None:
        return Check("http_latency", Status.OK, None, limit, f"no HTTP request {_over(p.http)}")
    p99 = round(p.http.p99_s, 4)
    message = f"p99 {p99:g} s over {p.http.requests:.0f} HTTP requests {_over(p.http)}"
    return Check("http_latency", limit.status(p99), p99, limit, message)


PLATFORM_CHECK_NAMES = (
    "queue_depth",
    "queue_lateness",
    "workers",
    "events_lag",
    "outbox_backlog",
    "heartbeat_failures",
    "workflow_failure",
    "http_errors",
    "http_latency",
)


def platform_checks(
    sample: RedisSample, signals: PlatformSignals, thresholds: PlatformThresholds | None = None
) -> tuple[Check, ...]:
    """The platform checks, in :data:`PLATFORM_CHECK_NAMES` order."""
    t = thresholds or PlatformThresholds()
    return (
        _queue_depth(sample, t),
        _queue_lateness(signals, t),
        _workers(signals, t),
        _events_lag(sample, t),
        _outbox_backlog(signals, t),
        _heartbeat_failures(signals, t),
        _workflow_failure(signals, t),
        _http_errors(signals, t),
        _http_latency(signals, t),
    )


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
