"""Dequeue from several queues at once: earliest deadline first across them, one round trip.

A worker that serves several queues (or one queue under several ``where`` filters) names each as
a :class:`Source`; :func:`dequeue_any` leases up to ``max_messages`` from whichever sources have
work, in deadline order across all of them (``lua/dequeue_any.lua``), and when none has any, it
waits once for a wake-up of *any* of the queues instead of polling them in turn.

The script reads keys of several queues, whose hash tags differ: it needs one Redis (a primary
with replicas), not a Cluster. On a Cluster, serve one queue per call of ``dequeue``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from darkroom.queue import codec
from darkroom.queue.calls import DequeueAny, DequeueSource, criteria
from darkroom.queue.core import Core
from darkroom.queue.errors import InvalidArgument
from darkroom.queue.instructions import Arm, Op, Script, Wait
from darkroom.queue.keys import HASH_FIELD
from darkroom.queue.models import Lease

__all__ = ["MAX_SOURCES", "Source", "dequeue_any"]

MAX_SOURCES = 64  # a worker's queues x its shape filters (at most 16 filters per queue)


@dataclass(frozen=True, slots=True)
class Source:
    """One place to take work from: a queue, optionally only messages matching ``where`` (indexed
    metadata keys), leased for ``lease_s`` (``None``: the queue's default)."""

    queue: str
    where: Mapping[str, str] | None = None
    lease_s: float | None = None


def dequeue_any(
    core: Core,
    sources: Sequence[Source],
    *,
    max_messages: int = 1,
    wait_s: float = 0.0,
    fields: Iterable[str] | None = None,
) -> Op[list[Lease]]:
    """Lease up to ``max_messages`` from ``sources``, earliest deadline first across all of them
    (equal deadlines: enqueue order within a queue, source order across queues). With ``wait_s``,
    a call that finds nothing waits until an enqueue on any source's queue, or a delay or lease
    expiry on one of them, or the end of the wait."""
    lim = core.limits
    if not isinstance(sources, Sequence) or not 1 <= len(sources) <= MAX_SOURCES:
        n = len(sources) if isinstance(sources, Sequence) else sources
        raise InvalidArgument(f"sources {n!r} must be a list of 1 to {MAX_SOURCES} Source", field="sources")
    lim.count(max_messages, "max_messages", 1, lim.max_batch)
    wait = lim.wait_s(wait_s)
    names = codec.read_fields(fields)
    calls: list[DequeueSource] = []
    queues: list[str] = []
    for i, s in enumerate(sources):
        if not isinstance(s, Source):
            raise InvalidArgument(f"sources[{i}] must be a Source, not {type(s).__name__}", field="sources")
        lim.queue_name(s.queue)
        lease_ms = None if s.lease_s is None else round(lim.lease_s(s.lease_s) * 1000)
        pairs = criteria(lim.metadata(s.where, "where"))
        calls.append(DequeueSource(core.keys.prefix(s.queue), s.queue, lease_ms, pairs))
        if s.queue not in queues:
            queues.append(s.queue)
    call = DequeueAny(max_messages, tuple(HASH_FIELD[n] for n in names), tuple(calls))
    key = core.keys.prefix(sources[0].queue)
    started = time.monotonic()
    give_up = started + wait
    while True:
        generations: list[tuple[str, int]] = []
        if wait > 0:
            for q in queues:
                generations.append((q, (yield Arm(q))))
            wait_ms = max(1, round((give_up - time.monotonic()) * 1000))
            this = dataclasses.replace(call, waiter=core.waiter_id, wait_ms=wait_ms)
        else:
            this = call
        rows, next_event_ms, now_ms = yield Script(key, this)
        if rows or wait <= 0:
            out = [
                Lease(
                    queue=sources[int(row[0]) - 1].queue,
                    message=codec.message(sources[int(row[0]) - 1].queue, codec.text(row[1]), names, row[4]),
                    token=int(row[2]),
                    expires_at=codec.ms(row[3]),
                )
                for row in rows
            ]
            for q in queues:
                core.observer.dequeued(q, sum(1 for lease in out if lease.queue == q), time.monotonic() - started)
            return out
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            return []
        if next_event_ms is not None:
            # a delay falls due or a lease expires on one of them: look again then
            remaining = min(remaining, max(0.001, (int(next_event_ms) - int(now_ms)) / 1000.0))
        (first, generation), *others = generations
        yield Wait(first, generation, remaining, also=tuple(others))
