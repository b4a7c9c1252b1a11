"""Small helpers shared by the CLI command groups."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["fail", "json_pairs", "pairs", "print_json"]

_err = Console(stderr=True, highlight=False)


def fail(exc: Exception) -> NoReturn:
    """Print a typed error for a human and exit 1 (commands catch only Darkroom's own errors).
    The message is escaped: it quotes paths and names, and a ``[`` in them is not markup."""
    _err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, soft_wrap=True)
    raise typer.Exit(1)


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def pairs(items: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        out[key] = value
    return out


def json_pairs(items: list[str] | None, option: str) -> dict[str, Any]:
    """KEY=VALUE pairs whose values are JSON where they parse as JSON, else plain strings."""
    values: dict[str, Any] = {}
    for key, raw in pairs(items, option).items():
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values
