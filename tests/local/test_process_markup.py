"""User and content text printed by ``darkroom process`` is text, never Rich markup: an error such
as ``frame rate [frame_rate] … [/x]`` prints as it is, not swallowed or styled."""

from __future__ import annotations

import io
from dataclasses import dataclass

from rich.console import Console

from darkroom.local.errors import ProcessFailed
from darkroom.local.process import _follow, print_failure
from darkroom.runtime.operations import OperationStore
from darkroom.runtime.workflow import Workflows
from tests.runtime.conftest import Platform, platform, sqlite_engine  # noqa: F401 (fixtures)

REASON = "frame rate [frame_rate] is [bold]odd[/x] [/] \\[code]"


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None), out


def test_a_failure_line_prints_its_text_literally() -> None:
    console, out = _console()
    print_failure(console, ProcessFailed(f"clip [final].mp4: run ended failed: {REASON}", "wf_1", "failed"))
    assert out.getvalue() == f"  ProcessFailed: clip [final].mp4: run ended failed: {REASON}\n"


@dataclass
class _Wiring:
    """The clients ``_follow`` reads: the runs and their operations."""

    workflows: Workflows
    operations: OperationStore


def test_the_progress_display_prints_a_step_error_literally(platform: Platform) -> None:  # noqa: F811
    ops = OperationStore(platform.db)
    platform.start_engine(operations=ops)
    platform.start_worker()
    wiring = _Wiring(Workflows(platform.rq, platform.db, platform.registry, operations=ops), ops)
    run = wiring.workflows.start("refusing", {"reason": REASON})
    console, out = _console()
    ended = _follow(wiring, run.id, console, None, ["check"], rename=lambda text: text)
    assert ended.state == "failed" and REASON in (ended.steps["check"].error or "")
    (line,) = [line for line in out.getvalue().splitlines() if "check" in line]
    assert REASON in line and "failed" in line
