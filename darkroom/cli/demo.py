"""``darkroom demo`` (a clip and a photo through the media workflows on the local platform; with
``--sample`` the runtime's map/reduce sample) and ``darkroom queue demo`` (the queue alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from darkroom.cli._options import HomeOpt

__all__ = ["demo", "queue_demo"]


def demo(
    home: HomeOpt = None,
    out: Annotated[Path | None, typer.Option(help="Output folder of the media demo (default: HOME/demo).")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Run the runtime's map/reduce sample instead.")] = False,
    items: Annotated[int, typer.Option("--n", min=0, max=2000, help="Items of the sample map (--sample).")] = 50,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes.")] = 1,
) -> None:
    """Start the local platform and process a generated clip (studio and streaming profiles) and a
    photo end to end, then check every output; --sample runs the map/reduce sample workflow."""
    from rich.console import Console

    from darkroom.config import Settings

    home = home or Settings.from_env().home
    if sample:
        from darkroom.local.workflow_demo import run_workflow_demo

        ok = run_workflow_demo(home, n=items, workers=max(2, workers), console=Console()).ok
    else:
        from darkroom.local.media_demo import run_media_demo

        ok = run_media_demo(home, out=out, workers=workers, console=Console()).ok
    if not ok:
        raise typer.Exit(1)


def queue_demo(
    home: HomeOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes.")] = 3,
) -> None:
    """Start a private redis-server and the queue server, push work through them, show what happened."""
    from rich.console import Console

    from darkroom.config import Settings
    from darkroom.local.demo import DemoConfig, run_demo

    report = run_demo(home or Settings.from_env().home, config=DemoConfig(workers=workers), console=Console())
    if not report.ok:
        raise typer.Exit(1)
