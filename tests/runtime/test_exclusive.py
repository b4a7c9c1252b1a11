"""Exclusive function queues (``Function.exclusive_on``): how the queue is made, what each task
carries, and what is refused (the analytics jobs' use: tests/analytics/test_workflows.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import Function, Registry
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.workflow import Workflow
from tests.runtime.conftest import Platform


def _noop(ctx: TaskContext, key: str = "") -> None:
    return None


def _registry(**options: object) -> Registry:
    reg = Registry()
    reg.add(Function("x.hold", _noop, queue="xq", **options))  # type: ignore[arg-type]
    return reg


def test_the_queue_is_created_exclusive_on_the_argument(rq: dq.RedisQueue) -> None:
    ensure_queues(rq, _registry(exclusive_on="key"))
    assert rq.get_queue("xq").exclusivity_key == "key"
    with pytest.raises(InvalidWorkflow, match="exists with exclusivity key 'key', its functions want None"):
        ensure_queues(rq, _registry())


def test_what_is_refused(rq: dq.RedisQueue) -> None:
    with pytest.raises(InvalidWorkflow, match="exclusive_on 'Key!' must name an argument"):
        _registry(exclusive_on="Key!")
    with pytest.raises(InvalidWorkflow, match="batch=2 shares one"):
        _registry(exclusive_on="key", batch=2)
    reg = _registry(exclusive_on="key")
    reg.add(Function("x.other", _noop, queue="xq"))
    with pytest.raises(InvalidWorkflow, match="queue 'xq': its functions disagree on exclusive_on"):
        ensure_queues(rq, reg)


def test_a_step_without_the_value_fails_naming_it(rq: dq.RedisQueue, sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    reg = _registry(exclusive_on="key")
    wf = Workflow("x.flow", inputs=["key"])
    wf.task("hold", "x.hold", key=wf.input("key"))
    reg.add_workflow(wf)
    p = Platform(rq, sqlite_engine, reg, tmp_path / "scratch")
    try:
        p.start_engine()
        run = p.wait(p.workflows.start("x.flow", {"key": ""}).id)
    finally:
        p.stop()
    assert run.state == "failed"
    assert "function 'x.hold' is exclusive on argument 'key', which is ''" in (run.error or "")
