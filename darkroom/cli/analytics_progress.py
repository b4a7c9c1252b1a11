"""Waiting for an analytics workflow run with a progress display: a Rich progress line per step
(a job's run or backfill), on standard error so ``--json`` output stays clean, drawn only on a
terminal; and the note above them when no worker serves the jobs' queue."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from darkroom.analytics.errors import RunNotFinished
from darkroom.platform.wiring import Wiring
from darkroom.runtime.workflow import Workflows
from darkroom.runtime.workflow.store import RunRow

__all__ = ["no_worker_note", "wait_for_run"]

_REFRESH_S = 0.2  # the display's redraw cadence, and how often the run is read


def wait_for_run(
    workflows: Workflows, workflow_id: str, *, timeout_s: float, console: Console | None = None, note: str = ""
) -> RunRow:
    """Poll the run until it is finished, showing each step's state (and ``note`` above them);
    :class:`RunNotFinished` after ``timeout_s`` (the run goes on)."""
    console = console or Console(stderr=True)
    if note and console.is_terminal:
        console.print(escape(note), style="yellow")
    run = workflows.get(workflow_id)
    give_up = time.monotonic() + timeout_s
    columns = (
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24), TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        # in the definition's order (the store lists steps by name): a job after the one it reads
        order = [n for n in workflows.registry.workflow(run.name).steps if n in run.steps]
        bars: dict[str, TaskID] = {
            name: progress.add_task(escape(name), total=1.0, state=run.steps[name].state) for name in order
        }
        while True:
            for name in order:
                step = run.steps[name]
                done = step.state in ("succeeded", "skipped")
                progress.update(bars[name], completed=1.0 if done else step.progress, state=escape(step.state))
            if run.done:
                return run
            if time.monotonic() >= give_up:
                raise RunNotFinished(
                    f"run {workflow_id} is still {run.state} after {timeout_s:g}s; it goes on "
                    f"(darkroom workflow status {workflow_id})"
                )
            time.sleep(_REFRESH_S)  # the terminal view's cadence: the run lives in the database
            run = workflows.get(workflow_id)


def no_worker_note(w: Wiring) -> str:
    """A line for the progress display when no live worker serves the jobs' queue (the run would
    wait for one): a platform without analytics, or one still starting."""
    from darkroom.analytics.workflows import QUEUE
    from darkroom.runtime.directory import WorkerDirectory

    if WorkerDirectory.of(w.queue).hosts(QUEUE):
        return ""
    return (
        f"no worker serves the queue {QUEUE!r} yet: the run waits for one (darkroom up runs analytics-1; "
        "elsewhere: darkroom worker --app darkroom.analytics.workflows:registry)"
    )
