"""What a batch of engine passes asks of the queue (enqueue, cancel, timers), carried out after
their commit in as few round trips as possible, and the worker that takes some of the tasks in the
enqueue's round trip (:class:`Grab`)."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import darkroom.queue as dq
from darkroom.queue import handoff
from darkroom.queue.instructions import Op
from darkroom.runtime.workflow.inbox import Inbox
from darkroom.runtime.workflow.planner import Planner

__all__ = ["Grab", "QueueWork", "Take"]


@dataclass(frozen=True)
class Take:
    """How many tasks a worker takes from one queue a pass enqueued to, and how."""

    max_messages: int
    where: Mapping[str, str] | None
    lease_s: float


class Grab(Protocol):
    """A worker that takes some of the tasks a pass enqueues, in the enqueue's own script call."""

    def wants(self, enqueued: Mapping[str, int]) -> dict[str, Take]:
        """What to take from each queue the pass enqueues to (``{queue: messages enqueued}``)."""
        ...

    def took(self, leases: list[dq.Lease]) -> None:
        """The leases those dequeues won (possibly none), to run."""
        ...


class QueueWork:
    """What a batch of passes asks of the queue, carried out in as few round trips as possible."""

    def __init__(self) -> None:
        self.enqueue: dict[str, list[dq.NewMessage]] = defaultdict(list)
        self.reissued: dict[str, list[dq.NewMessage]] = defaultdict(list)
        self.cancel: list[tuple[str, str]] = []
        self.timers: list[tuple[str, float, str]] = []
        self.started = 0

    def add(self, planner: Planner) -> None:
        for queue_name, messages in planner.enqueue.items():
            self.enqueue[queue_name] += messages
        for queue_name, messages in planner.reissued.items():
            self.reissued[queue_name] += messages
        self.cancel += planner.cancel
        run = planner.run
        self.timers += [
            (run.id, run.deadline, f"timeout-{step}-{int((planner.now + delay) * 1000)}:{delay}")
            for step, delay in planner.timers
        ]
        self.started += len(planner.new_tasks)

    def carry_out(
        self,
        queue: dq.RedisQueue,
        inbox: Inbox,
        grab: Grab | None = None,
        also: Sequence[Op[object]] = (),
    ) -> list[object] | None:
        """Enqueue (taking some for ``grab``), cancel, arm timers; ``also`` rides in the enqueue's
        round trip and its results are returned (None if it did not run). Raises what the enqueue
        raised."""
        self._add_missing(queue)
        wants = grab.wants({q: len(m) for q, m in self.enqueue.items()}) if grab is not None else {}
        ops: list[Op[object]] = []
        for queue_name, messages in self.enqueue.items():
            chunks = [messages[i : i + 500] for i in range(0, len(messages), 500)]
            take = wants.get(queue_name)
            for k, chunk in enumerate(chunks):
                if take is not None and k == len(chunks) - 1:
                    # the last chunk's script also leases the worker's share (enqueue_lease.lua)
                    ops.append(
                        handoff.enqueue_lease(
                            queue.ops,
                            queue_name,
                            chunk,
                            max_messages=take.max_messages,
                            where=take.where,
                            lease_s=take.lease_s,
                        )
                    )
                else:
                    ops.append(queue.ops.enqueue_many(queue_name, chunk))
        results: list[object] | None = None
        if ops or also:
            results = queue.batch([*ops, *also])
            if grab is not None and wants:
                grab.took([lease for r in results[: len(ops)] if isinstance(r, handoff.Handoff) for lease in r.leases])
            for r in results[: len(ops)]:
                if isinstance(r, Exception):
                    raise r
        for queue_name, mid in self.cancel:
            with contextlib.suppress(dq.Conflict, dq.MessageNotFound):  # already finished or purged
                queue.cancel(queue_name, mid)
        for wid, deadline, timer in self.timers:
            name, _, delay = timer.rpartition(":")
            inbox.tick(wid, deadline, delay_s=float(delay), name=name)
        return None if results is None else results[len(ops) :]

    def _add_missing(self, queue: dq.RedisQueue) -> None:
        """Put the reissued messages the queue lacks with the new ones (one round trip). Only the
        missing: one that exists is left as it is (enqueuing it again would be a no-op only while
        its function's settings are unchanged, and a ``Conflict`` otherwise)."""
        wanted = [(q, m) for q, messages in self.reissued.items() for m in messages if m.id]
        if not wanted:
            return
        found = queue.batch([queue.ops.get(q, m.id or "", ["state"]) for q, m in wanted])
        for (q, m), msg in zip(wanted, found, strict=True):
            if isinstance(msg, dq.MessageNotFound):
                self.enqueue[q].append(m)
            elif isinstance(msg, Exception):
                raise msg
        self.reissued.clear()
