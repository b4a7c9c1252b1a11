"""Small helpers shared by the CLI command groups."""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import typer
from rich.console import Console

from darkroom.cli._edge import error_line, print_error

__all__ = ["err", "fail", "json_pairs", "out", "pairs", "print_json"]


def out() -> Console:
    """Standard output's console, made when printing: its width is the terminal's then (a
    module-level one keeps the width of whenever it was imported)."""
    return Console(highlight=False)


def err() -> Console:
    """Standard error's console, made when printing."""
    return Console(highlight=False, stderr=True)


def fail(exc: Exception) -> NoReturn:
    """Print ``exc``, an error the caller expected, as the edge does (one escaped line); exit 1."""
    print_error(error_line(exc, expected=True))
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


def json_pairs(items: list[str] | None, option: str) -> dict[str, object]:
    """KEY=VALUE pairs whose values are JSON where they parse as JSON, else plain strings."""
    values: dict[str, object] = {}
    for key, raw in pairs(items, option).items():
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values
