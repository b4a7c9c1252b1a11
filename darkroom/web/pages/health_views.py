"""The operator health page's observability part: the alert checks (Redis's and the platform's,
``darkroom.observability.monitor``) judged now, whether each has held long enough to alert (the
rules' ``for``), and the last hour's history as chart series (``static/health_charts.js``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import redis
from starlette.requests import Request

from darkroom.observability import RedisSampler
from darkroom.observability.checks import HealthReport, Status
from darkroom.observability.history import HealthHistory, Point, firing
from darkroom.observability.http_window import HttpSource, HttpWindow, RegistrySource, multiprocess_source
from darkroom.observability.monitor import HealthMonitor
from darkroom.observability.multiprocess import MULTIPROC_ENV
from darkroom.platform.health import key_layout, outbox_age
from darkroom.web.deps import WebDeps

__all__ = ["CHARTS", "Chart", "RuleRow", "chart_data", "monitor_of", "rule_rows"]


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    checks: tuple[str, ...]  # the checks whose values it draws
    unit: str


CHARTS = (
    Chart("latency", "Redis latency", ("latency",), "ms"),
    Chart("cpu", "Redis CPU", ("cpu",), "cores"),
    Chart("memory", "Redis memory and clients", ("memory", "clients"), "of the limit"),
    Chart("queues", "Ready messages", ("queue_depth",), "messages"),
    Chart("lateness", "Deadline lateness", ("queue_lateness",), "s"),
    Chart("events", "Events lag", ("events_lag",), "entries"),
)


@dataclass(frozen=True, slots=True)
class RuleRow:
    name: str
    status: str
    alerting: str  # the status held for the rule's ``for``: "" when ok
    message: str


def monitor_of(request: Request, deps: WebDeps) -> HealthMonitor:
    """This process's monitor (its previous sample gives the rates), made at the first look. Its
    client shares the app's connection pool; the sampler's reply parsing stays on its own client."""
    found = getattr(request.app.state, "health_monitor", None)
    if isinstance(found, HealthMonitor):
        return found
    base = deps.queue.redis if deps.queue is not None else deps.redis
    client = redis.Redis(connection_pool=base.connection_pool)
    namespace = deps.queue.namespace if deps.queue is not None else deps.settings.namespace
    sampler = RedisSampler(
        client, layout=key_layout(replace(deps.settings, namespace=namespace)), where="the platform's Redis"
    )
    monitor = HealthMonitor(
        sampler,
        deps.workers,
        HealthHistory(base, namespace),
        database=deps.engine,
        http=HttpWindow(_http_source(deps)),
        outbox=outbox_age(deps.engine),
    )
    request.app.state.health_monitor = monitor
    return monitor


def _http_source(deps: WebDeps) -> HttpSource:
    """Every worker process's counters under ``darkroom http --workers N``, else this app's own."""
    shared = os.environ.get(MULTIPROC_ENV)
    if shared and Path(shared).is_dir():
        return multiprocess_source(Path(shared))
    return RegistrySource(deps.registry)


def rule_rows(report: HealthReport, points: list[Point]) -> list[RuleRow]:
    rows = []
    for check in report.checks:
        held = firing(points, check.name)
        alerting = "" if held is Status.OK else held.value
        rows.append(RuleRow(check.name, check.status.value, alerting, check.message))
    return rows


def chart_data(points: list[Point]) -> dict[str, object]:
    """``{"t": [epoch s…], "charts": [{"id","title","unit","series": {check: [value|null…]}}]}``."""
    return {
        "t": [p.at_s for p in points],
        "charts": [
            {
                "id": c.id,
                "title": c.title,
                "unit": c.unit,
                "series": {name: [p.checks.get(name, (Status.OK, None))[1] for p in points] for name in c.checks},
            }
            for c in CHARTS
        ],
    }
