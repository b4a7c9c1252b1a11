"""What a running function sees: its scratch directory, progress reporting, cancellation and the
resources the worker was given (blob store, settings, services' stores)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from darkroom.runtime.errors import InvalidWorkflow, TaskCanceled
from darkroom.runtime.resources import Resources

__all__ = ["TaskContext", "TaskIdentity"]


class TaskIdentity(TypedDict):
    """The fields a child process rebuilds a :class:`TaskContext` from."""

    task_id: str
    attempt: int
    scratch_path: Path
    workflow_id: str | None
    step: str | None
    item: int


@dataclass
class TaskContext:
    """Passed as the first argument of every function.

    ``scratch`` is an empty directory (made on first use) that the runtime removes after the call,
    also on failure: write outputs there and return their paths. ``progress`` reports are throttled, so calling it
    in a tight loop is fine. Long functions should call ``check_cancelled()`` now and then; a
    function run in a child process is killed instead. ``resources`` are what the worker was
    given (:mod:`darkroom.runtime.resources`): a function reads its stores there, never from the
    environment.
    """

    task_id: str
    attempt: int
    scratch_path: Path
    workflow_id: str | None = None
    step: str | None = None
    item: int = 0
    report: Callable[[float, str], None] | None = None
    # where :meth:`encoded` counts (the worker's metrics; a child process sends it to its worker)
    encoded_to: Callable[[str, int, float], None] | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    resources: Resources = field(default_factory=Resources)
    min_interval_s: float = 0.5
    _last: float = field(default=0.0, repr=False)

    def progress(self, fraction: float, message: str = "") -> None:
        if not 0.0 <= fraction <= 1.0:
            raise InvalidWorkflow(f"progress fraction {fraction!r} is not within 0..1")
        now = time.monotonic()
        if self.report is not None and (now - self._last >= self.min_interval_s or fraction >= 1.0):
            self._last = now
            self.report(fraction, message[:200])

    def encoded(self, codec: str, frames: int, seconds: float) -> None:
        """Count media work for ``darkroom_media_frames_total{codec}`` and
        ``darkroom_media_encode_seconds_total{codec}`` in the worker (a no-op without metrics)."""
        if self.encoded_to is not None and frames > 0:
            self.encoded_to(codec, frames, seconds)

    def identity(self) -> TaskIdentity:
        """The fields a child process rebuilds its context from (no callbacks, no event; the
        resources cross once per child, not per call)."""
        return {"task_id": self.task_id, "attempt": self.attempt, "scratch_path": self.scratch_path,
                "workflow_id": self.workflow_id, "step": self.step, "item": self.item}  # fmt: skip

    @property
    def scratch(self) -> Path:
        """The task's scratch directory, created on first use (most functions never need one)."""
        self.scratch_path.mkdir(parents=True, exist_ok=True)
        return self.scratch_path

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise TaskCanceled(f"task {self.task_id} was canceled")
