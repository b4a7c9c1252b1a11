"""``darkroom demo`` (the platform runs a sample workflow) and ``darkroom queue demo`` (the queue alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["demo", "queue_demo"]

HomeOption = Annotated[
    Path | None, typer.Option(help="Where the private redis-server and database live (default: DARKROOM_HOME).")
]


def demo(
    home: HomeOption = None,
    items: Annotated[int, typer.Option("--n", min=0, max=2000, help="Items of the sample map.")] = 50,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes.")] = 2,
) -> None:
    """Start the local platform (darkroom up) and run a map/reduce sample workflow through it."""
    from rich.console import Console

    from darkroom.config import Settings
    from darkroom.local.workflow_demo import run_workflow_demo

    result = run_workflow_demo(home or Settings.from_env().home, n=items, workers=workers, console=Console())
    if not result.ok:
        raise typer.Exit(1)


def queue_demo(
    home: HomeOption = None,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes.")] = 3,
) -> None:
    """Start a private redis-server and the queue server, push work through them, show what happened."""
    from rich.console import Console

    from darkroom.config import Settings
    from darkroom.local.demo import DemoConfig, run_demo

    report = run_demo(home or Settings.from_env().home, config=DemoConfig(workers=workers), console=Console())
    if not report.ok:
        raise typer.Exit(1)
