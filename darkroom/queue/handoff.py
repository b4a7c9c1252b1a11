"""Enqueue messages and lease some of them to the caller in one script call (``enqueue_lease``).

A worker that advances its workflow enqueues the next step and wants to run it itself: as two
scripts (``enqueue``, then ``dequeue``) in one pipelined round trip, Redis runs two script calls;
``lua/enqueue_lease.lua`` runs both bodies in one call on the queue. The operation reuses
``Core.enqueue_many`` and ``Core.dequeue`` for validation and reply parsing, so it cannot drift
from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from darkroom.queue.calls import Dequeue, Enqueue, EnqueueLease
from darkroom.queue.core import Core
from darkroom.queue.instructions import Op, Script
from darkroom.queue.models import Lease, NewMessage

__all__ = ["Handoff", "enqueue_lease"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Handoff:
    """What ``enqueue_lease`` answers: the enqueued ids (in order) and the leases taken."""

    ids: list[str]
    leases: list[Lease]


def enqueue_lease(
    core: Core,
    queue: str,
    messages: Sequence[NewMessage],
    *,
    max_messages: int,
    where: Mapping[str, str] | None = None,
    lease_s: float | None = None,
) -> Op[Handoff]:
    """Enqueue ``messages`` on ``queue``, then lease up to ``max_messages`` of its ready messages
    (earliest deadline first, ``where`` as for ``dequeue``; not necessarily the ones just
    enqueued) to the caller, atomically in one script call."""
    enqueue = core.enqueue_many(queue, messages)
    dequeue = core.dequeue(queue, max_messages=max_messages, where=where, lease_s=lease_s, wait_s=0.0)
    try:
        enq = next(enqueue)
    except StopIteration:  # nothing to enqueue: a plain dequeue
        enqueue.close()
        return Handoff([], (yield from dequeue))
    deq = next(dequeue)
    assert isinstance(enq, Script) and isinstance(enq.call, Enqueue)
    assert isinstance(deq, Script) and isinstance(deq.call, Dequeue)
    enqueued, dequeued = yield Script(enq.key, EnqueueLease(deq.call, enq.call))
    return Handoff(_finish(enqueue, enqueued), _finish(dequeue, dequeued))


def _finish(op: Op[T], reply: object) -> T:
    try:
        op.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    op.close()
    raise AssertionError("a one-script operation asked for a second round trip")
