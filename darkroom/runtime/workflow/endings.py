"""What a pass took to an end: the steps and the run that reached a final state in it, timed for
the engine's metrics once the pass has committed (what the rows then say happened did happen),
and turned into run events (:mod:`~darkroom.runtime.workflow.run_events`) inside its transaction."""

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
    step: str
    function: str
    priority: str
    state: str
    seconds: float
    late_s: float
    ended_at: float

    def record(self, metrics: EngineMetrics) -> None:
        metrics.step_finished(self.function, self.priority, self.seconds, self.late_s)


@dataclass(frozen=True, slots=True)
class RunEnded:
    name: str
    state: str
    seconds: float  # from the run's creation: the time a caller waited, queueing included
    late_s: float  # ended minus deadline: negative when early
    ended_at: float

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
            late_s = step.ended_at - run.deadline
            out.append(StepEnded(name, spec.fn, run.priority, step.state, seconds, late_s, step.ended_at))
    if run.done and before.run not in TERMINAL:
        ended_at = run.ended_at or planner.now
        out.append(RunEnded(run.name, run.state, ended_at - run.created_at, ended_at - run.deadline, ended_at))
    return out
