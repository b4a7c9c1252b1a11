"""What a pass took to an end: the steps and the run that reached a final state in it, timed for
the engine's metrics once the pass has committed (what the rows then say happened did happen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from darkroom.runtime.workflow.store import TERMINAL, RunRow

if TYPE_CHECKING:
    from darkroom.runtime.metrics import EngineMetrics
    from darkroom.runtime.workflow.planner import Planner

__all__ = ["Ending", "RunEnded", "StatesBefore", "StepEnded", "endings"]


@dataclass(frozen=True, slots=True)
class StatesBefore:
    """The run's state and each step's when a pass began: what the pass ends is what changes from
    a state that was not final to one that is."""

    run: str
    steps: dict[str, str]

    @classmethod
    def of(cls, run: RunRow) -> StatesBefore:
        return cls(run.state, {name: step.state for name, step in run.steps.items()})


@dataclass(frozen=True, slots=True)
class StepEnded:
    function: str
    priority: str
    seconds: float
    late_s: float

    def record(self, metrics: EngineMetrics) -> None:
        metrics.step_finished(self.function, self.priority, self.seconds, self.late_s)


@dataclass(frozen=True, slots=True)
class RunEnded:
    name: str
    state: str
    seconds: float

    def record(self, metrics: EngineMetrics) -> None:
        metrics.workflow_finished(self.name, self.state, self.seconds)


Ending = StepEnded | RunEnded


def endings(planner: Planner, before: StatesBefore) -> list[Ending]:
    """The steps and the run that ``planner``'s pass took to an end."""
    run = planner.run
    out: list[Ending] = []
    for name in planner.changed:
        step = run.steps.get(name)
        spec = planner.definition.steps.get(name)
        if step is None or spec is None or before.steps.get(name) in TERMINAL or step.state not in TERMINAL:
            continue
        if step.started_at is not None and step.ended_at is not None:
            seconds = step.ended_at - step.started_at
            out.append(StepEnded(spec.fn, run.priority, seconds, step.ended_at - run.deadline))
    if run.done and before.run not in TERMINAL:
        out.append(RunEnded(run.name, run.state, (run.ended_at or planner.now) - run.created_at))
    return out
