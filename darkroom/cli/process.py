"""``darkroom process INPUT``: a video or a photo through the local platform, out to a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from darkroom.cli._options import HomeOpt, JsonOpt

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
    home: HomeOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes (2 tasks each).")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Process SOURCE on the local platform: package (HLS + DASH), poster, storyboard or photo
    renditions, report.json and report.html in --out. --json prints the result (progress goes to
    stderr)."""
    from rich.console import Console

    from darkroom.cli._options import settings_for
    from darkroom.cli._params import json_pairs, print_json
    from darkroom.local.process import Job
    from darkroom.local.process import process as run_process

    values = json_pairs(options, "--set")
    (result,) = run_process(
        [Job(source, out, profile=profile, options=values)],
        home=settings_for(home).home,
        workers=workers,
        console=Console(stderr=as_json),
    )
    if as_json:
        run = result.run
        print_json(
            {
                "source": str(source),
                "kind": result.kind,
                "workflow": result.workflow,
                "run_id": run.id if run else None,
                "state": run.state if run else None,
                "out": str(out),
                "files": result.files,
            }
        )
