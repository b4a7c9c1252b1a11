"""``darkroom demo --sample``: the local platform (``darkroom up``) runs the sample workflow end to end.

It starts the platform in a home directory (private Redis, gRPC queue + operations, an engine,
worker processes), starts ``sample.scores`` — a map of ``n`` hashing tasks and a reduce — draws
the live step tree, then checks the result against a local computation and the operation that
the Operations gRPC service reports, and shows where the time went.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from darkroom.cli.workflow_view import watch
from darkroom.config import Settings
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.runtime import sample
from darkroom.runtime.context import TaskContext
from darkroom.runtime.operations_server import OperationsClient
from darkroom.runtime.workflow.store import RunRow

__all__ = ["WorkflowDemoResult", "run_workflow_demo"]

APP = "darkroom.runtime.sample:registry"


@dataclass
class WorkflowDemoResult:
    ok: bool
    state: str
    outputs: Any
    expected: dict[str, sample.Summary]  # the workflow's outputs: its summary
    operation_state: str
    tasks_per_worker: dict[str, int]


def _expected(n: int, salt: str) -> sample.Summary:
    ctx = TaskContext("local", 1, Path("."))
    return sample.summarize(ctx, [sample.score(ctx, i, salt) for i in range(n)])


def run_workflow_demo(
    home: Path, *, n: int = 50, workers: int = 2, console: Console | None = None
) -> WorkflowDemoResult:
    console = console or Console()
    settings = replace(Settings.from_env(), home=home, grpc_addr="127.0.0.1:0", redis_url="")
    platform = LocalPlatform(
        settings, PlatformConfig(engines=1, workers=workers, concurrency=4, app=APP, metrics=False)
    )
    console.print(f"[bold]starting the platform[/] under {escape(str(home))} (1 engine, {workers} workers) …")
    wiring = platform.start()
    try:
        run = wiring.workflows.start("sample.scores", {"n": n, "salt": "demo"})
        console.print(f"started [bold]{run.name}[/] {run.id}: plan → score x{n} (map) → summarize (reduce)")
        run = watch(wiring.workflows, run.id, console=console)
        console.print()
        assert platform.grpc_url is not None
        with OperationsClient(platform.grpc_url, api_key=platform.api_key) as ops:
            op = ops.wait(run.id, timeout_s=10)
        tasks = wiring.workflows.tasks(run.id)
    finally:
        platform.stop()
    expected = {"summary": _expected(n, "demo")}
    per_worker = Counter(t.worker or "?" for t in tasks)
    result = WorkflowDemoResult(
        ok=run.state == "succeeded" and run.outputs == expected and op.state == "succeeded",
        state=run.state,
        outputs=run.outputs,
        expected=expected,
        operation_state=str(op.state),
        tasks_per_worker=dict(per_worker),
    )
    _render(console, run, result)
    return result


def _render(console: Console, run: RunRow, result: WorkflowDemoResult) -> None:
    table = Table("step", "kind", "state", "tasks", "attempts", "took")
    for step in run.steps.values():
        took = f"{step.ended_at - step.started_at:.2f}s" if step.started_at and step.ended_at else ""
        cells = (step.name, step.kind, step.state, str(step.items_total), str(step.attempts), took)
        table.add_row(*map(Text, cells))
    console.print(table)
    console.print(f"tasks per worker process: {result.tasks_per_worker}", markup=False)  # host names
    console.print(f"outputs: {result.outputs}", markup=False)
    console.print(f"operation {run.id} (Operations gRPC): {result.operation_state}")
    verdict = "[green]OK[/]: the result matches a local computation" if result.ok else "[red]FAILED[/]"
    took_s = (run.ended_at or run.created_at) - run.created_at  # a finished run has ended_at
    console.print(f"{verdict} (run {result.state}, {took_s:.2f}s from start to end)")
