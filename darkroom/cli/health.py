"""``darkroom health``: every Redis health check, with its value, thresholds and likely cause.

Two samples ``--interval`` apart (rates need a difference: CPU, hit rate, evictions, refused
connections). Exit status: 0 all ok, 1 a warning, 2 a critical check or an unreachable Redis.
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
from darkroom.cli._options import HomeOpt, JsonOpt, RedisUrlOpt
from darkroom.cli._params import print_json

if TYPE_CHECKING:
    from darkroom.observability import Check, Limit

__all__ = ["health"]

_STYLE = {"ok": "green", "warn": "yellow", "critical": "bold red"}
UNREACHABLE_EXIT = 2

IntervalOpt = Annotated[
    float,
    typer.Option("--interval", min=0.0, max=60.0, help="Seconds between the two samples the rates are taken over."),
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


def health(
    *, home: HomeOpt = None, url: RedisUrlOpt = None, interval: IntervalOpt = 1.0, json_out: JsonOpt = False
) -> None:
    """Check the platform's Redis (or any Redis at --url): latency, CPU, memory, clients, persistence…"""
    from darkroom.cli._wiring import wiring_for
    from darkroom.observability import RedisSampler, RedisUnreachable, check_health
    from darkroom.platform.health import key_layout

    target = _redis_url(home, url)
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
    if json_out:
        print_json(report.as_json())
    else:
        table = Table(title=f"Redis health: {report.status.value}", title_justify="left")
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
