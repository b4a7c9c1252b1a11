"""``darkroom workflow start|list|status|cancel``.

Each command takes ``--home`` and ``--url`` (the platform's Redis) and ``--json``. An unknown
workflow, input or run id is a one-line error (exit status 1); a bad option value is a usage error
(exit status 2).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from darkroom.cli._edge import new_app
from darkroom.cli._options import DeadlineOpt, HomeOpt, JsonOpt, RedisUrlOpt, parse_deadline
from darkroom.cli._params import print_json

if TYPE_CHECKING:
    from darkroom.platform.wiring import Wiring

__all__ = ["Priority", "RunState", "app"]

app = new_app("Start, list, watch and cancel workflow runs.")


class RunState(StrEnum):
    """The states a run can be in (``workflow list --state``)."""

    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


class Priority(StrEnum):
    """Priority classes (``darkroom.runtime.workflow.PRIORITIES``): a run's deadline budget."""

    interactive = "interactive"
    preview = "preview"
    standard = "standard"
    batch = "batch"


def _wiring(home: Path | None, url: str | None, app_spec: str | None = None) -> Wiring:
    from darkroom.cli._wiring import wiring_for

    wiring = wiring_for(home, url, app_spec)
    # Runs live in the database, but a platform whose Redis is away is not one to read or start:
    # an unreachable one ends the command here (before a database is created in a wrong --home).
    wiring.queue.redis.ping()
    return wiring


@app.command()
def start(
    name: str,
    *,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="NAME=VALUE, VALUE as JSON (else a string).")
    ] = None,
    priority: Annotated[Priority | None, typer.Option(help="Deadline budget (default: the workflow's).")] = None,
    deadline: DeadlineOpt = None,
    run_id: Annotated[str | None, typer.Option("--id", help="Idempotency: the run's id.")] = None,
    wait: Annotated[bool, typer.Option("--watch/--no-watch", help="Draw the live step tree until it ends.")] = False,
    app_spec: Annotated[str | None, typer.Option("--app", help="Registry module:attribute.")] = None,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run of workflow NAME; print its id (with --watch, then its live step tree)."""
    from darkroom.cli._params import json_pairs

    values = json_pairs(inputs, "--input")
    due = None if deadline is None else parse_deadline(deadline)
    w = _wiring(home, url, app_spec)
    run = w.workflows.start(name, values, priority=priority.value if priority else None, deadline=due, id=run_id)
    if wait:
        from darkroom.cli.workflow_view import watch

        if not as_json:
            typer.echo(run.id)  # on its own line, before the live tree
        run = watch(w.workflows, run.id)
    if as_json:
        from darkroom.cli.workflow_view import run_dict

        print_json(run_dict(run))
    elif not wait:
        typer.echo(run.id)
    if wait and run.state != "succeeded":
        raise typer.Exit(1)


@app.command("list")
def list_runs(
    *,
    state: Annotated[RunState | None, typer.Option(help="Only runs in this state.")] = None,
    name: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest runs."""
    from rich.console import Console

    from darkroom.cli.workflow_view import run_dict, run_table

    runs = _wiring(home, url).workflows.runs(state=state.value if state else None, name=name, limit=limit)
    if as_json:
        print_json([run_dict(r) for r in runs])
    else:
        Console().print(run_table(runs))


@app.command()
def status(
    workflow_id: str,
    *,
    live: Annotated[bool, typer.Option("--watch/--no-watch", help="Redraw until the run ends.")] = False,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A run's steps, their states, attempts, workers, errors and progress."""
    from rich.console import Console

    from darkroom.cli.workflow_view import run_dict, run_tree, watch

    workflows = _wiring(home, url).workflows
    run = watch(workflows, workflow_id) if live else workflows.get(workflow_id)
    if as_json:
        print_json(run_dict(run))
    elif not live:
        Console().print(run_tree(run))


@app.command()
def cancel(workflow_id: str, *, home: HomeOpt = None, url: RedisUrlOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a run: queued tasks are canceled, running ones told to stop."""
    run = _wiring(home, url).workflows.cancel(workflow_id)
    if as_json:
        print_json({"id": run.id, "state": run.state, "cancel_requested": not run.done})
    else:
        typer.echo(f"{run.id}: {'already ' + run.state if run.done else 'cancel requested'}")
