"""``darkroom demo``: the CLI glue of :mod:`darkroom.local.demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["demo"]


def demo(
    home: Annotated[
        Path | None, typer.Option(help="Where the private redis-server keeps its data (default: DARKROOM_HOME).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes.")] = 3,
) -> None:
    """Start a private redis-server and the queue server, push work through them, show what happened."""
    from rich.console import Console

    from darkroom.config import Settings
    from darkroom.local.demo import DemoConfig, run_demo

    report = run_demo(home or Settings.from_env().home, config=DemoConfig(workers=workers), console=Console())
    if not report.ok:
        raise typer.Exit(1)
