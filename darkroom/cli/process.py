"""``darkroom process INPUT``: a video or a photo through the local platform, out to a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["process"]


def process(
    source: Annotated[Path, typer.Argument(help="A video or a photo (the kind is judged from the content).")],
    *,
    out: Annotated[Path, typer.Option("--out", help="Folder for the package, images and reports.")],
    profile: Annotated[str, typer.Option(help="Video profile: studio (fast, fixed recipes) or streaming.")] = "studio",
    options: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Request field KEY=VALUE (VALUE as JSON, else a string), e.g. chunk=always."),
    ] = None,
    home: Annotated[
        Path | None, typer.Option(help="Platform home: Redis, database, blobs (default: DARKROOM_HOME).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes (2 tasks each).")] = 1,
) -> None:
    """Process SOURCE on the local platform: package (HLS + DASH), poster, storyboard or photo
    renditions, report.json and report.html in --out."""
    from rich.console import Console

    from darkroom.cli._params import fail, json_pairs
    from darkroom.config import Settings
    from darkroom.local.errors import LocalError
    from darkroom.local.process import Job
    from darkroom.local.process import process as run_process

    values = json_pairs(options, "--set")
    try:
        run_process(
            [Job(source, out, profile=profile, options=values)],
            home=home or Settings.from_env().home,
            workers=workers,
            console=Console(),
        )
    except LocalError as exc:
        fail(exc)
