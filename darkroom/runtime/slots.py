"""A worker's task slots: the tasks it runs, under one lock, and a wake-up when one frees."""

from __future__ import annotations

import threading

from darkroom.runtime.attempt import Attempt

__all__ = ["Slots"]


class Slots:
    """``concurrency`` slots; ``lock`` guards ``running`` (and what the parking and the settler
    decide together with it: one lock, so the per-task path takes no other)."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.lock = threading.Lock()
        self.running: dict[tuple[str, int], Attempt] = {}
        self.freed = threading.Event()

    def free(self) -> int:
        with self.lock:
            return self.concurrency - len(self.running)

    def occupy(self, task: Attempt) -> None:
        with self.lock:
            self.running[task.key] = task

    def release(self, task: Attempt) -> None:
        with self.lock:
            self.running.pop(task.key, None)
        self.freed.set()

    def tasks(self) -> list[Attempt]:
        with self.lock:
            return list(self.running.values())

    def __len__(self) -> int:
        with self.lock:
            return len(self.running)

    def runs_task_of(self, workflow_id: str) -> bool:
        """Is a task of run ``workflow_id`` running here? The caller holds ``lock``."""
        return any(t.spec is not None and t.spec.workflow_id == workflow_id for t in self.running.values())

    def wait_freed(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for a slot to free (or one freed since the last wait)."""
        self.freed.wait(timeout_s)
        self.freed.clear()
