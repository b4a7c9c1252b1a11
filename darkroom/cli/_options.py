"""Options every command group shares, and the parsers behind them.

Every command that talks to a platform takes ``--home`` and ``--url``; every command that prints
data takes ``--json``. They are declared here once. The parsers are Typer callbacks: a bad value
is a usage error (exit status 2) naming the option and the value.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from darkroom.config import Settings

__all__ = [
    "ApiKeyOpt",
    "DeadlineOpt",
    "HomeOpt",
    "JsonOpt",
    "QueueUrlOpt",
    "DatabaseUrlOpt",
    "RedisUrlOpt",
    "check_address",
    "check_http_url",
    "check_queue_url",
    "check_redis_url",
    "parse_address",
    "parse_deadline",
    "settings_for",
]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RELATIVE = re.compile(r"^([+-])(\d+(?:\.\d+)?)([smhd])$")
_EPOCH = re.compile(r"^@(\d+(?:\.\d+)?)$")
_NUMBER = re.compile(r"^([+-]?)(\d+(?:\.\d+)?)$")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_QUEUE_SCHEMES = (*_REDIS_SCHEMES, "grpc", "grpcs")


# -- parsers ---------------------------------------------------------------------------------------
def parse_deadline(text: str, now: Callable[[], float] = time.time) -> float:
    """Epoch seconds of ``text``: relative (``+30s``, ``-5m``, ``+2h``, ``+1d``), ISO 8601 (without
    a zone: local time) or ``@EPOCH`` seconds. A bare number is refused: ``+5`` is not 5 s from now."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        sign = -1.0 if relative[1] == "-" else 1.0
        return now() + sign * float(relative[2]) * _UNITS[relative[3]]
    epoch = _EPOCH.match(text.strip())
    if epoch:
        return float(epoch[1])
    number = _NUMBER.match(text.strip())
    if number:
        amount = number[2]
        raise typer.BadParameter(
            f"{text!r} has no unit: write {number[1] or '+'}{amount}s (or m, h, d) for a time from now, "
            f"or @{amount} for epoch seconds",
            param_hint="'--deadline'",
        )
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time: write +30s, +5m, +2h, +1d (from now), an ISO 8601 time like "
            "2026-01-01T12:00:00+00:00, or @EPOCH seconds",
            param_hint="'--deadline'",
        ) from None
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def parse_address(text: str, option: str = "--grpc-addr") -> str:
    """``host:port`` (``[v6]:port`` for IPv6) with a port in 0-65535 (0: any free port)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise typer.BadParameter(
            f"{text!r} is not host:port with a port in 0-65535 (0: any free port)", param_hint=f"'{option}'"
        )
    if host.startswith("[") != host.endswith("]"):
        raise typer.BadParameter(f"{text!r}: an IPv6 host is written [::1]:port", param_hint=f"'{option}'")
    return f"{host}:{int(port)}"


def _check_url(text: str, schemes: tuple[str, ...], option: str = "--url") -> str:
    url = text.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a URL ({exc})", param_hint=f"'{option}'") from None
    if parts.scheme not in schemes:
        raise typer.BadParameter(
            f"{text!r} is not a {', '.join(s + '://' for s in schemes)} URL", param_hint=f"'{option}'"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise typer.BadParameter(f"{text!r} names no socket path (unix:///path/to.sock)", param_hint=f"'{option}'")
    elif not parts.hostname:
        raise typer.BadParameter(f"{text!r} names no host", param_hint=f"'{option}'")
    elif parts.scheme.startswith("grpc") and port is None:
        raise typer.BadParameter(f"{text!r} names no port (grpc://host:port)", param_hint=f"'{option}'")
    return url


def check_redis_url(text: str | None) -> str | None:
    return None if text is None else _check_url(text, _REDIS_SCHEMES)


def check_http_url(text: str | None) -> str | None:
    """``--http-metrics``: an http:// or https:// URL (a server's /metrics)."""
    return None if text is None else _check_url(text, ("http", "https"), "--http-metrics")


def check_queue_url(text: str | None) -> str | None:
    return None if text is None else _check_url(text, _QUEUE_SCHEMES)


def check_address(text: str | None) -> str | None:
    return None if text is None else parse_address(text)


def _check_deadline(text: str | None) -> str | None:
    if text is not None:
        parse_deadline(text)  # refuse at parse time; the command computes it again when it runs
    return text


def settings_for(home: Path | None = None, redis_url: str | None = None) -> Settings:
    """The environment's settings with ``--home`` and a Redis ``--url`` applied."""
    settings = Settings.from_env()
    if home is not None:
        settings = replace(settings, home=home)
    if redis_url:
        settings = replace(settings, redis_url=redis_url)
    return settings


# -- options ---------------------------------------------------------------------------------------
HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Platform home: private redis-server, database, blobs (default: DARKROOM_HOME, else .darkroom)."
    ),
]
# the metadata database of commands that work on it directly (db, users, social maintenance)
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="sqlite:///path, sqlite:// or postgresql://… (default: DARKROOM_DATABASE_URL)."),
]
RedisUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        callback=check_redis_url,
        help="Redis of the platform: redis://host:port or unix:///path (default: DARKROOM_REDIS_URL, "
        "else the private redis-server under --home).",
    ),
]
QueueUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        callback=check_queue_url,
        help="redis://, unix:// or grpc://host:port (default: DARKROOM_REDIS_URL, else the private "
        "redis-server under --home).",
    ),
]
ApiKeyOpt = Annotated[str | None, typer.Option(envvar="DARKROOM_API_KEY", help="API key for grpc:// URLs.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DeadlineOpt = Annotated[
    str | None,
    typer.Option(
        callback=_check_deadline,
        help="+30s, +5m, +2h, +1d (from now; write --deadline=-5m for the past), ISO 8601 "
        "(no zone: local time) or @EPOCH seconds.",
    ),
]
