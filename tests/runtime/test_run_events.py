"""The engine's run events (``run_events.py``): made from what a pass ended and handed to the sink
inside the pass's transaction, so a pass whose sink fails is rolled back whole and the next pass
records the events once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.runtime.workflow import Engine, Workflows
from darkroom.runtime.workflow.run_events import RunEvent, RunEventType
from tests.runtime import funcs


@dataclass
class Sink:
    """A sink that fails while ``failing``, else keeps what it is given (and checks it is given it
    inside an open transaction)."""

    failing: bool = False
    events: list[RunEvent] = field(default_factory=list)
    calls: int = 0

    def record(self, conn: sa.Connection, events: Sequence[RunEvent]) -> None:
        self.calls += 1
        assert conn.in_transaction() and events
        if self.failing:
            raise RuntimeError("the outbox is away")
        self.events += events


def test_a_pass_whose_sink_fails_is_rolled_back_and_the_next_records_once(
    rq: dq.RedisQueue, sqlite_engine: sa.Engine
) -> None:
    sink = Sink()
    engine = Engine(rq, sqlite_engine, funcs.registry, events=sink)
    engine.setup()
    workflows = Workflows(rq, sqlite_engine, funcs.registry)
    run = workflows.start("chain", {}, priority="interactive")
    engine.advance(run.id)  # s0 starts: nothing ended, the sink is not called
    assert sink.calls == 0
    workflows.cancel(run.id)
    sink.failing = True
    with pytest.raises(RuntimeError, match="outbox is away"):
        engine.advance(run.id)
    assert workflows.get(run.id).state == "running"  # the cancel was rolled back with the events
    sink.failing = False
    engine.advance(run.id)  # the cancel report was not acknowledged: it applies now
    done = workflows.get(run.id)
    assert done.state == "canceled" and done.ended_at is not None
    step, end = sink.events
    assert (step.type, step.properties["step"], step.properties["state"]) == (
        RunEventType.STEP_FINISHED,
        "s0",
        "canceled",
    )
    assert (end.type, end.occurred_at, end.properties["state"]) == (
        RunEventType.WORKFLOW_FINISHED,
        done.ended_at,
        "canceled",
    )
    assert end.properties["priority"] == "interactive"
    assert end.properties["lateness_ms"] == round((done.ended_at - done.deadline) * 1000) < 0  # early
    engine.advance(run.id)  # a finished run: nothing more
    assert len(sink.events) == 2
