"""Rendering workflow runs: a Rich tree of steps with progress bars, and a table of runs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from darkroom.runtime.workflow.store import RunRow, StepRow

if TYPE_CHECKING:
    from darkroom.runtime.workflow import Workflows

__all__ = ["progress_label", "run_dict", "run_table", "run_tree", "watch"]

_STYLE = {
    "pending": "dim",
    "waiting": "dim",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "canceled": "yellow",
    "skipped": "dim",
}


# A run or step that ended this way is labelled with how it ended, not a percentage; its bar shows
# the progress it had reached (the engine counts only succeeded work as done).
_ENDED_BADLY = frozenset({"failed", "canceled", "skipped"})


def _bar(fraction: float, state: str) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=24)
    grid.add_column(justify="right", width=9)
    style = _STYLE.get(state, "")
    label = Text(state, style=style) if state in _ENDED_BADLY else Text(f"{fraction:4.0%}")
    bar = ProgressBar(total=1.0, completed=fraction, width=24, complete_style=style, finished_style=style)
    grid.add_row(bar, label)
    return grid


def progress_label(run: RunRow) -> str:
    """The progress column of a run: a percentage, or how it ended when it did not succeed."""
    return run.state if run.state in _ENDED_BADLY else f"{run.progress:.0%}"


def _duration(start: float | None, end: float | None) -> str:
    if start is None:
        return ""
    return f"{(end or time.time()) - start:.1f}s"


def _step_line(step: StepRow) -> Group:
    head = Text.assemble(
        (f"{step.name} ", "bold"),
        (f"[{step.state}]", _STYLE.get(step.state, "")),
        f" {step.kind}",
        f" {step.items_done}/{step.items_total}" if step.kind == "map" and step.items_total is not None else "",
        f"  attempts {step.attempts}" if step.attempts > 1 else "",
        f"  {_duration(step.started_at, step.ended_at)}",
        f"  {step.worker}" if step.worker else "",
    )
    parts: list[object] = [head, _bar(0.0 if step.state == "skipped" else step.progress, step.state)]
    if step.message and step.state == "running":
        parts.append(Text(step.message, style="dim"))
    if step.error:
        parts.append(Text(step.error, style="red"))
    return Group(*parts)  # type: ignore[arg-type]


def run_tree(run: RunRow) -> Tree:
    label = Group(
        Text.assemble(
            (f"{run.name} ", "bold"),
            (run.id, "dim"),
            " ",
            (f"[{run.state}]", _STYLE.get(run.state, "")),
            f"  {run.priority}, {_duration(run.started_at or run.created_at, run.ended_at)}",
        ),
        _bar(run.progress, run.state),
    )
    tree = Tree(label)
    for step in run.steps.values():
        tree.add(_step_line(step))
    if run.error:
        tree.add(Text(run.error, style="red"))
    return tree


def run_table(runs: Sequence[RunRow]) -> Table:
    table = Table("id", "workflow", "state", "progress", "created", "took")
    for r in runs:
        table.add_row(
            Text(r.id),
            Text(r.name),
            Text(r.state, style=_STYLE.get(r.state, "")),
            Text(progress_label(r), style=_STYLE.get(r.state, "") if r.state in _ENDED_BADLY else ""),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at)),
            _duration(r.started_at, r.ended_at) if r.started_at else "",
        )
    return table


def run_dict(run: RunRow) -> dict[str, object]:
    out = {k: v for k, v in vars(run).items() if k != "steps"}
    out["steps"] = {n: vars(s) for n, s in run.steps.items()}
    return out


def watch(workflows: Workflows, workflow_id: str, *, console: Console | None = None, refresh_s: float = 0.25) -> RunRow:
    """Draw the run's live step tree until it finishes; return the finished run."""
    from rich.live import Live

    run = workflows.get(workflow_id)
    with Live(run_tree(run), console=console, refresh_per_second=8) as live:
        while not run.done:
            time.sleep(refresh_s)  # redraw cadence of a terminal view
            run = workflows.get(workflow_id)
            live.update(run_tree(run))
    return run
