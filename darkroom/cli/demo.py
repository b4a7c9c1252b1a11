"""``darkroom demo`` (a clip and a photo through the media workflows on the local platform, then the
social scenario over the HTTP API; with ``--sample`` the runtime's map/reduce sample) and
``darkroom queue demo`` (the queue alone).

Each starts a private platform under ``--home``; ``--json`` prints the outcome on stdout and the
progress on stderr.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from darkroom.cli._options import HomeOpt, JsonOpt

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["DemoPart", "demo", "queue_demo"]


class DemoPart(StrEnum):
    MEDIA = "media"
    SOCIAL = "social"


def demo(
    *,
    home: HomeOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder of the demos (default: HOME/demo; the social one's platform in OUT/social)."),
    ] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Run the runtime's map/reduce sample instead.")] = False,
    items: Annotated[int, typer.Option("--n", min=0, max=2000, help="Items of the sample map (--sample).")] = 50,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes.")] = 1,
    only: Annotated[
        DemoPart | None, typer.Option("--only", help="Run one part: the media workflows or the social scenario.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the local platform and process a generated clip (studio and streaming profiles) and a
    photo end to end, then check every output; then the social scenario over the HTTP API (sign up,
    follow, upload, post, feed, like, comment, a private account's request) on a platform of its own
    in OUT/social. --sample runs the map/reduce sample workflow instead."""
    from rich.console import Console

    from darkroom.cli._options import settings_for
    from darkroom.cli._params import print_json

    home = settings_for(home).home
    console = Console(stderr=as_json)
    summary: dict[str, Any]
    if sample:
        from darkroom.cli.demos.workflow_demo import run_workflow_demo

        outcome = run_workflow_demo(home, n=items, workers=max(2, workers), console=console)
        ok, summary = outcome.ok, dataclasses.asdict(outcome)
    else:
        ok, summary = True, {}
        if only in (None, DemoPart.MEDIA):
            media_ok, summary["jobs"] = _media(home, out, workers, console)
            ok = ok and media_ok
        if only in (None, DemoPart.SOCIAL):
            from darkroom.cli.demos.social_demo import run_social_demo

            social = run_social_demo((out or home / "demo") / "social", workers=max(2, workers), console=console)
            ok = ok and social.ok
            summary["social"] = {
                "ok": social.ok,
                "http": social.http,
                "checks": [dataclasses.asdict(c) for c in social.checks],
            }
        summary["ok"] = ok
    if as_json:
        print_json(summary)
    if not ok:
        raise typer.Exit(1)


def _media(home: Path, out: Path | None, workers: int, console: Console) -> tuple[bool, dict[str, Any]]:
    from darkroom.cli.demos.media_demo import run_media_demo

    media = run_media_demo(home, out=out, workers=workers, console=console)
    jobs = {
        label: {
            "workflow": result.workflow,
            "state": result.run.state if result.run else None,
            "out": str(result.job.out),
            "error": result.error,
            "checks": [dataclasses.asdict(c) for c in media.checks.get(label, [])],
        }
        for label, result in zip(media.checks, media.results, strict=True)
    }
    return media.ok, jobs


def queue_demo(
    *,
    home: HomeOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Worker processes.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """Start a private redis-server and the queue server, push work through them, show what happened."""
    from rich.console import Console

    from darkroom.cli._options import settings_for
    from darkroom.cli._params import print_json
    from darkroom.cli.demos.queue_demo import DemoConfig, run_demo

    report = run_demo(settings_for(home).home, config=DemoConfig(workers=workers), console=Console(stderr=as_json))
    if as_json:
        print_json(dataclasses.asdict(report) | {"ok": report.ok})
    if not report.ok:
        raise typer.Exit(1)
