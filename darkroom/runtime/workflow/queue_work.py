"""What a batch of engine passes asks of the queue (enqueue, cancel, timers), carried out in as
few round trips as possible, and the worker that takes some of the tasks in the enqueue's round
trip (:class:`Grab`)."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import darkroom.queue as dq
from darkroom.queue.instructions import Op
from darkroom.runtime.workflow.inbox import Inbox
from darkroom.runtime.workflow.planner import Planner

__all__ = ["Grab", "QueueWork"]


class Grab(Protocol):
    """A worker that takes some of the tasks a pass enqueues, in the enqueue's own round trip."""

    def grab_ops(self, enqueued: Mapping[str, int]) -> list[Op[list[dq.Lease]]]:
        """Dequeues to run right after the pass's enqueues (``{queue: messages enqueued}``)."""
        ...

    def took(self, leases: list[dq.Lease]) -> None:
        """The leases those dequeues won (possibly none), to run."""
        ...


class QueueWork:
    """What a batch of passes asks of the queue, carried out in as few round trips as possible."""

    def __init__(self) -> None:
        self.enqueue: dict[str, list[dq.NewMessage]] = defaultdict(list)
        self.cancel: list[tuple[str, str]] = []
        self.timers: list[tuple[str, float, str]] = []
        self.started = 0

    def add(self, planner: Planner) -> None:
        for queue_name, messages in planner.enqueue.items():
            self.enqueue[queue_name] += messages
        self.cancel += planner.cancel
        run = planner.run
        self.timers += [
            (run.id, run.deadline, f"timeout-{step}-{int((planner.now + delay) * 1000)}:{delay}")
            for step, delay in planner.timers
        ]
        self.started += len(planner.new_tasks)

    def carry_out(
        self, queue: dq.RedisQueue, inbox: Inbox, grab: Grab | None = None, also: Sequence[Op[Any]] = ()
    ) -> list[Any] | None:
        """Enqueue (taking some for ``grab``), cancel, arm timers; ``also`` rides in the enqueue's
        round trip and its results are returned (None if it did not run)."""
        ops: list[Op[Any]] = [
            queue.ops.enqueue_many(queue_name, messages[i : i + 500])
            for queue_name, messages in self.enqueue.items()
            for i in range(0, len(messages), 500)
        ]
        grabs = grab.grab_ops({q: len(m) for q, m in self.enqueue.items()}) if grab is not None and ops else []
        results: list[Any] | None = None
        if ops or also:
            results = queue.batch([*ops, *grabs, *also])
            if grab is not None and grabs:
                grab.took(
                    [lease for r in results[len(ops) : len(ops) + len(grabs)] if isinstance(r, list) for lease in r]
                )
            for r in results[: len(ops)]:
                if isinstance(r, Exception):
                    raise r
        for queue_name, mid in self.cancel:
            with contextlib.suppress(dq.Conflict, dq.MessageNotFound):  # already finished or purged
                queue.cancel(queue_name, mid)
        for wid, deadline, timer in self.timers:
            name, _, delay = timer.rpartition(":")
            inbox.tick(wid, deadline, delay_s=float(delay), name=name)
        return None if results is None else results[len(ops) + len(grabs) :]
