"""How runs are drawn: a failed or canceled run never reads 100 %, and user text is never markup."""

from __future__ import annotations

import pytest
from rich.console import Console

from darkroom.cli.workflow_view import progress_label, run_table, run_tree
from darkroom.runtime.workflow.store import RunRow, StepRow


def _run(state: str, error: str | None = None) -> RunRow:
    steps = {
        "plan": StepRow("plan", "task", "succeeded", progress=1.0),
        "score": StepRow("score", "map", "failed" if state == "failed" else "canceled", error=error),
        "summarize": StepRow("summarize", "reduce", "skipped"),
    }
    # the progress the engine stores for such a run: the one succeeded step of three
    return RunRow("wf_1", "sample.scores", state, {}, "preview", 0.0, 1e9, 1e9, progress=0.3333, error=error,
                  steps=steps)  # fmt: skip


def _text(renderable: object) -> str:
    console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("state", ["failed", "canceled"])
def test_a_run_that_did_not_succeed_shows_its_state_not_100_percent(state: str) -> None:
    run = _run(state, error="step score: boom [codes] {0,99}")
    assert progress_label(run) == state
    tree, table = _text(run_tree(run)).splitlines(), _text(run_table([run]))
    assert state in tree[1] and "100%" not in tree[1]  # the run's own bar
    assert "100%" not in table and state in table.split("│")[4]  # the progress column
    assert any("boom [codes] {0,99}" in line for line in tree)  # errors are text, not markup


def test_a_succeeded_run_reads_100_percent() -> None:
    run = _run("failed")
    run.state, run.progress = "succeeded", 1.0
    assert progress_label(run) == "100%" and "100%" in _text(run_table([run]))
