"""``darkroom workflow start|list|status|cancel``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from darkroom.cli._params import print_json

__all__ = ["app"]

app = typer.Typer(help="Start, list, watch and cancel workflow runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _wiring(app_spec: str | None = None) -> Any:
    from darkroom.local.wiring import Wiring

    return Wiring(app=app_spec)


@app.command()
def start(
    name: str,
    *,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="NAME=VALUE, VALUE as JSON (else a string).")
    ] = None,
    priority: Annotated[str | None, typer.Option(help="interactive | preview | standard | batch.")] = None,
    run_id: Annotated[str | None, typer.Option("--id", help="Idempotency: the run's id.")] = None,
    wait: Annotated[bool, typer.Option("--watch/--no-watch", help="Draw the live step tree until it ends.")] = False,
    app_spec: Annotated[str | None, typer.Option("--app", help="Registry module:attribute.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a run of workflow NAME."""
    from darkroom.cli._params import json_pairs

    values = json_pairs(inputs, "--input")
    w = _wiring(app_spec)
    run = w.workflows.start(name, values, priority=priority, id=run_id)
    if wait:
        from darkroom.local.workflow_view import watch

        run = watch(w.workflows, run.id)
    if as_json:
        from darkroom.local.workflow_view import run_dict

        print_json(run_dict(run))
    else:
        typer.echo(run.id)
    if wait and run.state != "succeeded":
        raise typer.Exit(1)


@app.command("list")
def list_runs(
    state: Annotated[str | None, typer.Option(help="Only runs in this state.")] = None,
    name: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest runs."""
    from rich.console import Console

    from darkroom.local.workflow_view import run_dict, run_table

    runs = _wiring().workflows.runs(state=state, name=name, limit=limit)
    if as_json:
        print_json([run_dict(r) for r in runs])
    else:
        Console().print(run_table(runs))


@app.command()
def status(
    workflow_id: str,
    live: Annotated[bool, typer.Option("--watch/--no-watch", help="Redraw until the run ends.")] = False,
    as_json: JsonOption = False,
) -> None:
    """A run's steps, their states, attempts, workers, errors and progress."""
    from rich.console import Console

    from darkroom.local.workflow_view import run_dict, run_tree, watch

    workflows = _wiring().workflows
    run = watch(workflows, workflow_id) if live else workflows.get(workflow_id)
    if as_json:
        print_json(run_dict(run))
    elif not live:
        Console().print(run_tree(run))


@app.command()
def cancel(workflow_id: str, as_json: JsonOption = False) -> None:
    """Cancel a run: queued tasks are canceled, running ones told to stop."""
    run = _wiring().workflows.cancel(workflow_id)
    if as_json:
        print_json({"id": run.id, "state": run.state, "cancel_requested": not run.done})
    else:
        typer.echo(f"{run.id}: {'already ' + run.state if run.done else 'cancel requested'}")
