"""The ``darkroom`` command: one Typer app, one module per sub-command group.

Errors end a command with one line on stderr (``_edge``); options shared by the groups are
declared once (``_options``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from darkroom.cli import analytics, db, demo, health, process, queue, runtime, seed, social, users, workflow
from darkroom.cli._edge import DEBUG_ENV, DEBUG_FLAG, new_app

__all__ = ["app", "main"]

app = new_app("Self-hosted photo and video sharing with a studio-grade media pipeline.", name="darkroom")


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            DEBUG_FLAG,
            envvar=DEBUG_ENV,
            help=f"Show the traceback of an error; after any command too (or {DEBUG_ENV}=1).",
        ),
    ] = False,
) -> None:
    """Self-hosted photo and video sharing with a studio-grade media pipeline."""
    # The edge (DarkroomGroup.main) takes the flag out of the arguments, wherever it is: it is
    # declared here only so the help lists it.


app.add_typer(queue.app, name="queue")
app.add_typer(workflow.app, name="workflow")
app.add_typer(db.app, name="db")
app.add_typer(social.app, name="social")
app.add_typer(users.app, name="users")
app.command("health")(health.health)
app.add_typer(analytics.app, name="analytics")
app.command("up")(runtime.up)
app.command("worker")(runtime.worker)
app.command("engine")(runtime.engine)
app.command("http")(runtime.http)
social.app.command("run")(runtime.social_run)
app.command("demo")(demo.demo)
app.command("seed")(seed.seed)
app.command("process")(process.process)
queue.app.command("demo")(demo.queue_demo)


def main() -> None:
    """Entry point of the ``darkroom`` console script."""
    app()
