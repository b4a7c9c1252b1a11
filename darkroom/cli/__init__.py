"""The ``darkroom`` command: one Typer app, one module per sub-command group."""

from __future__ import annotations

import typer

from darkroom.cli import db, demo, process, queue, runtime, workflow

__all__ = ["app", "main"]

app = typer.Typer(
    name="darkroom",
    help="Self-hosted photo and video sharing with a studio-grade media pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(queue.app, name="queue")
app.add_typer(workflow.app, name="workflow")
app.add_typer(db.app, name="db")
app.command("up")(runtime.up)
app.command("worker")(runtime.worker)
app.command("engine")(runtime.engine)
app.command("demo")(demo.demo)
app.command("process")(process.process)
queue.app.command("demo")(demo.queue_demo)


def main() -> None:
    """Entry point of the ``darkroom`` console script."""
    app()
