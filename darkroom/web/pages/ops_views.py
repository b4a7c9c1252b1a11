"""What the operator pages show, as plain values: queues with their depth per state and lateness,
workflow runs with their steps, states, timings and failure reasons. Templates never see the
queue's or the store's own types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from darkroom.queue.models import Message, State
from darkroom.queue.overview import QueueOverview
from darkroom.runtime.workflow.store import RunRow, StepRow

__all__ = ["DeadRow", "QueueRow", "RunView", "StepView", "dead_row", "duration", "moment", "queue_row", "run_view"]


def duration(seconds: float) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 2 s``, ``2 h 5 min``: as precise as a person reads it."""
    s = max(0.0, seconds)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def moment(epoch_s: float) -> tuple[str, str]:
    """A time as shown (UTC, to the second) and as ``<time datetime>`` wants it."""
    at = datetime.fromtimestamp(epoch_s, UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC"), at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue's line: its depth per state (the queue's own names in the headings' notes) and
    how late its most urgent ready message is."""

    name: str
    kind: str  # "simple", or "exclusive by <key>"
    paused: bool
    ready: int  # pending
    delayed: int  # invisible until a time
    running: int  # leased
    dead: int  # errored: out of attempts
    completed: int
    canceled: int
    lateness_s: float

    @property
    def late(self) -> bool:
        return self.lateness_s > 0

    @property
    def lateness(self) -> str:
        return f"{duration(self.lateness_s)} late" if self.late else "on time"


def queue_row(found: QueueOverview) -> QueueRow:
    info = found.info
    return QueueRow(
        name=info.name,
        kind=f"exclusive by {info.exclusivity_key}" if info.exclusivity_key else "simple",
        paused=info.paused,
        ready=found.depth(State.PENDING),
        delayed=found.depth(State.INVISIBLE),
        running=found.depth(State.RUNNING),
        dead=found.depth(State.ERRORED),
        completed=found.depth(State.COMPLETED),
        canceled=found.depth(State.CANCELED),
        lateness_s=found.lateness_s,
    )


@dataclass(frozen=True, slots=True)
class DeadRow:
    """A dead message: its id, attempts, when it last changed, its size and why it last failed."""

    id: str
    attempts: str
    died: str
    died_iso: str
    size: str
    error: str


def dead_row(message: Message) -> DeadRow:
    died, died_iso = moment(message.updated_at)
    return DeadRow(
        id=message.id,
        attempts=f"{message.attempts} of {message.max_attempts}" if message.max_attempts else str(message.attempts),
        died=died,
        died_iso=died_iso,
        size=f"{len(message.payload)} B",
        error=message.last_error or "",
    )


@dataclass(frozen=True, slots=True)
class StepView:
    """A step of a run: its state, attempts, items (a map's), when it started after the run did,
    how long it took (or has been running), and why it failed."""

    name: str
    kind: str
    state: str
    attempts: int
    items: str  # "3 / 10" for a map, else ""
    progress: int  # percent
    started_after: str  # since the run started; "" before the step did
    took: str  # "" before it started; "running for …" while it runs
    worker: str
    message: str
    error: str


@dataclass(frozen=True, slots=True)
class RunView:
    id: str
    name: str
    state: str
    priority: str
    progress: int  # percent
    created: str
    created_iso: str
    took: str
    deadline: str  # "in 4 min 2 s" or "12.0 s ago"
    error: str
    steps: tuple[StepView, ...]

    @property
    def href(self) -> str:
        return f"/ops/workflows/{self.id}"


def _step(step: StepRow, run_started: float | None, now: float) -> StepView:
    started, ended = step.started_at, step.ended_at
    if started is None:
        took = ""
    elif ended is None:
        took = f"running for {duration(now - started)}"
    else:
        took = duration(ended - started)
    return StepView(
        name=step.name,
        kind=step.kind,
        state=step.state,
        attempts=step.attempts,
        items=f"{step.items_done} / {step.items_total}" if step.kind == "map" and step.items_total is not None else "",
        progress=round(step.progress * 100),
        started_after="" if started is None or run_started is None else f"+{duration(started - run_started)}",
        took=took,
        worker=step.worker or "",
        message=(step.message or "") if step.state == "running" else "",
        error=step.error or "",
    )


def _in_order(step: StepRow) -> tuple[bool, float, str]:
    """Steps as they ran: by when they started, those that never did last (by name)."""
    return (step.started_at is None, step.started_at or 0.0, step.name)


def run_view(run: RunRow, now: float) -> RunView:
    """``run`` as the pages show it at ``now`` (epoch seconds)."""
    shown, iso = moment(run.created_at)
    start = run.started_at
    took = "" if start is None else duration((run.ended_at or now) - start)
    left = run.deadline - now
    due = f"in {duration(left)}" if left >= 0 else f"{duration(-left)} ago"
    return RunView(
        id=run.id,
        name=run.name,
        state=run.state,
        priority=run.priority,
        progress=round(run.progress * 100),
        created=shown,
        created_iso=iso,
        took=took,
        deadline=due,
        error=run.error or "",
        steps=tuple(_step(s, start, now) for s in sorted(run.steps.values(), key=_in_order)),
    )
