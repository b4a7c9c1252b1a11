"""What a worker tells the workflows of its tasks: starts, progress and results, through the inbox.

Progress is buffered and posted by the settler with the next batch, so a function calling
``ctx.progress`` in a tight loop costs no round trip of its own.
"""

from __future__ import annotations

import logging
import threading
import time

from darkroom.queue import NewMessage
from darkroom.runtime.task import TaskOutcome, TaskSpec
from darkroom.runtime.workflow.inbox import Inbox, Report

__all__ = ["Reporter"]

_log = logging.getLogger(__name__)


class Reporter:
    def __init__(self, inbox: Inbox, worker_name: str) -> None:
        self.inbox = inbox
        self.worker_name = worker_name
        self._lock = threading.Lock()
        self._progress: list[Report] = []

    @staticmethod
    def report(
        spec: TaskSpec | None, deadline: float, outcome: TaskOutcome, kind: str, *, tick: bool = True
    ) -> Report | None:
        """The inbox report of a workflow task (None for a task outside any workflow)."""
        if spec is None or spec.workflow_id is None or spec.step is None:
            return None
        return Report(spec.workflow_id, f"{spec.step}#{spec.idx}:{kind}", outcome.encode(), deadline, tick)

    def started(self, spec: TaskSpec | None, deadline: float, attempt: int, at: float) -> list[Report]:
        """The start reports of a task (one per item of a batch)."""
        outcome = TaskOutcome("running", attempt, self.worker_name, at)
        return [r for item in (spec.items() if spec else []) if (r := self.report(item, deadline, outcome, "s"))]

    def progress(self, spec: TaskSpec | None, deadline: float, attempt: int, fraction: float, message: str) -> None:
        outcome = TaskOutcome("running", attempt, self.worker_name, time.time(), progress=fraction, message=message)
        report = self.report(spec, deadline, outcome, "p")
        if report:
            with self._lock:
                self._progress.append(report)

    def flush_progress(self) -> None:
        with self._lock:
            progress, self._progress = self._progress, []
        self.post(progress)

    def write(self, reports: list[Report]) -> list[NewMessage]:
        """Store the reports; answer the ticks the caller must enqueue (none if Redis failed:
        logged, as :meth:`post` does)."""
        try:
            return self.inbox.write(reports)
        except Exception:
            _log.warning("could not post %d workflow reports", len(reports), exc_info=True)
            return []

    def post(self, reports: list[Report]) -> None:
        if reports:
            try:
                self.inbox.post(reports)
            except Exception:
                _log.warning("could not post %d workflow reports", len(reports), exc_info=True)
