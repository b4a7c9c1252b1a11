"""``darkroom health``: every Redis health check, with its value, thresholds and likely cause,
then the platform's (queues, workers, heartbeat failures, workflow failures, the HTTP edge).

Two samples ``--interval`` apart (rates need a difference: CPU, hit rate, evictions, refused
connections). The HTTP edge is judged since its server started (one reading: this command keeps
none between runs), from ``--http-metrics`` or the home's ``darkroom http --workers N`` directory.
Exit status: 0 all ok, 1 a warning, 2 a critical check or an unreachable Redis.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from darkroom.cli._edge import print_error
from darkroom.cli._options import HomeOpt, JsonOpt, RedisUrlOpt, check_http_url
from darkroom.cli._params import print_json

if TYPE_CHECKING:
    import sqlalchemy as sa

    from darkroom.config import Settings
    from darkroom.observability import Check, HealthReport, Limit

__all__ = ["health"]

_STYLE = {"ok": "green", "warn": "yellow", "critical": "bold red"}
UNREACHABLE_EXIT = 2

IntervalOpt = Annotated[
    float,
    typer.Option("--interval", min=0.0, max=60.0, help="Seconds between the two samples the rates are taken over."),
]

RedisOnlyOpt = Annotated[
    bool, typer.Option("--redis-only", help="Only Redis's checks (for a Redis that holds no Darkroom platform).")
]
HttpMetricsOpt = Annotated[
    str | None,
    typer.Option(
        "--http-metrics",
        metavar="URL",
        callback=check_http_url,
        help="The HTTP server's /metrics (e.g. http://127.0.0.1:9470/metrics) for the http_* checks.",
    ),
]


def _redis_url(home: Path | None, url: str | None) -> str:
    from darkroom.cli._wiring import wiring_for
    from darkroom.config import ConfigError

    try:
        return wiring_for(home, url).redis_url
    except ConfigError as exc:  # no --url and no private redis-server running: nothing to reach
        print_error(str(exc))
        raise typer.Exit(UNREACHABLE_EXIT) from None


def _number(value: float, unit: str) -> str:
    if unit == "cores" or (unit == "ratio" and value <= 1):
        return f"{value:.0%}"
    return f"{value:.2f}" if unit == "ratio" else f"{value:g} {unit}"


def _value(check: Check) -> str:
    return "-" if check.value is None else _number(check.value, check.threshold.unit if check.threshold else "")


def _bounds(limit: Limit | None) -> str:
    if limit is None:
        return "-"
    op = "<" if limit.below else "≥"
    if limit.unit in ("cores", "ratio"):
        return f"{op} {_number(limit.warn, limit.unit)} / {_number(limit.critical, limit.unit)}"
    return f"{op} {limit.warn:g} / {limit.critical:g} {limit.unit}"  # the unit once


def _database(settings: Settings) -> sa.Engine | None:
    """The workflow store's database when one exists (never created or migrated from here)."""
    from darkroom.storage.db import from_settings

    if not settings.database_url and not (settings.home / "darkroom.db").exists():
        return None
    return from_settings(settings)


def _report(target: str, home: Path | None, url: str | None, interval: float, http_url: str | None) -> HealthReport:
    from darkroom.cli._wiring import wiring_for
    from darkroom.observability import RedisSampler
    from darkroom.observability.http_window import HttpWindow, ScrapeSource, multiprocess_source
    from darkroom.observability.monitor import HealthMonitor
    from darkroom.observability.rules import REACHABLE
    from darkroom.platform.health import key_layout, outbox_age
    from darkroom.runtime.directory import WorkerDirectory

    settings = wiring_for(home, url).settings
    sampler = RedisSampler.from_url(target, layout=key_layout(settings))
    shared = settings.home / "metrics" / "http"
    source = ScrapeSource(http_url) if http_url else multiprocess_source(shared) if shared.is_dir() else None
    database = _database(settings)
    monitor = HealthMonitor(
        sampler,
        WorkerDirectory(sampler.client, settings.namespace),
        database=database,
        outbox=outbox_age(database) if database is not None else None,
    )
    try:
        monitor.observe()
        time.sleep(interval)  # the window the rates are measured over
        monitor.http = HttpWindow(source) if source is not None else None  # one reading: since its start
        report = monitor.observe()
    finally:
        monitor.close()
        if database is not None:
            database.dispose()
    unreachable = [c for c in report.checks if c.name == REACHABLE]
    if unreachable:
        print_error(unreachable[0].message)
        raise typer.Exit(UNREACHABLE_EXIT)
    return report


def health(
    *,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
    interval: IntervalOpt = 1.0,
    redis_only: RedisOnlyOpt = False,
    http_metrics: HttpMetricsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check the platform's Redis (or any Redis at --url): latency, CPU, memory, clients, persistence…,
    then the platform: queues, workers, heartbeat and workflow failures, HTTP errors and p99."""
    from darkroom.observability import RedisSampler, RedisUnreachable, check_health
    from darkroom.platform.health import key_layout

    target = _redis_url(home, url)
    if redis_only:
        from darkroom.cli._wiring import wiring_for

        sampler = RedisSampler.from_url(target, layout=key_layout(wiring_for(home, url).settings))
        try:
            first = sampler.sample()
            time.sleep(interval)  # the window the rates are measured over
            report = check_health(sampler.sample(), first)
        except RedisUnreachable as exc:
            print_error(str(exc))
            raise typer.Exit(UNREACHABLE_EXIT) from None
        finally:
            sampler.close()
    else:
        report = _report(target, home, url, interval, http_metrics)
    if json_out:
        print_json(report.as_json())
    else:
        title = "Redis health" if redis_only else "Health"
        table = Table(title=f"{title}: {report.status.value}", title_justify="left")
        for column in ("check", "status", "value", "threshold (warn / critical)", "message"):
            table.add_column(column, overflow="fold")
        for check in report.checks:
            # Text cells are never read as markup: messages quote command and client names from Redis
            table.add_row(
                Text(check.name),
                Text(check.status.value, style=_STYLE[check.status.value]),
                Text(_value(check)),
                Text(_bounds(check.threshold)),
                Text(check.message),
            )
        Console(highlight=False).print(table)
    raise typer.Exit(report.status.exit_code)
