"""The events a run's end emits: ``step.finished`` per step and ``workflow.finished`` per run.

The engine makes them from what a pass ended (:mod:`~darkroom.runtime.workflow.endings`) and hands
them to a :class:`RunEventSink` *inside the pass's transaction*, once per pass (a batch of runs: one
call), so they are recorded if and only if the state that says the step or run ended commits. The
runtime knows no stream: the composition root (``darkroom.platform.run_events``) gives the engine
a sink that writes them to the events outbox, whose relay publishes them to the events stream.
Their shape is the one analytics reads (docs/analytics.md, "pipeline_sla").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from ulid import ULID

from darkroom.runtime.workflow.endings import Ending, RunEnded
from darkroom.runtime.workflow.store import RunRow

__all__ = ["RunEvent", "RunEventSink", "RunEventType", "run_events"]


class RunEventType(StrEnum):
    STEP_FINISHED = "step.finished"
    WORKFLOW_FINISHED = "workflow.finished"


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One step's or run's end. ``occurred_at``: when it ended (epoch seconds); ``properties``:
    small, JSON-shaped; ``account_id``: the run's owner (runs have none yet: empty)."""

    type: RunEventType
    occurred_at: float
    properties: dict[str, str | int]
    account_id: str = ""
    event_id: str = field(default_factory=lambda: str(ULID()))


class RunEventSink(Protocol):
    """Where the engine writes its run events: in ``conn``'s transaction (the pass's), so they are
    published if and only if it commits. One call per pass, with every event of its runs."""

    def record(self, conn: sa.Connection, events: Sequence[RunEvent]) -> None: ...


def run_events(run: RunRow, ended: Sequence[Ending]) -> list[RunEvent]:
    """The events of what one pass over ``run`` ended (durations and lateness in whole ms)."""
    out: list[RunEvent] = []
    common: dict[str, str | int] = {"workflow_id": run.id, "workflow": run.name, "priority": run.priority}
    for e in ended:
        if isinstance(e, RunEnded):
            props = {**common, "state": e.state, "duration_ms": _ms(e.seconds), "lateness_ms": _ms(e.late_s)}
            out.append(RunEvent(RunEventType.WORKFLOW_FINISHED, e.ended_at, props))
        else:
            props = {**common, "state": e.state, "step": e.step, "duration_ms": _ms(e.seconds)}
            out.append(RunEvent(RunEventType.STEP_FINISHED, e.ended_at, props))
    return out


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
