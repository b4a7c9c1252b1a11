"""How workers and clients tell the engine that something happened to a workflow.

Each workflow has an *inbox* (a Redis hash: one field per report, e.g. ``encode#7:r`` for item 7's
result) and *ticks*: messages on the exclusive events queue, keyed by workflow id, that make an
engine look at the inbox. The queue's exclusivity guarantees one engine per workflow at a time.

Ticks coalesce: a reporter writes its field, reads the inbox generation ``g`` and enqueues the tick
``<workflow>:g<g>``; the queue's idempotent enqueue turns every further tick of the same generation
into a no-op. An engine starts a drain by bumping the generation and reading the hash in one
MULTI, so a report written before the bump is in that read, and one written after it enqueues a
tick of the new generation. A 2,000-item map therefore costs a handful of engine passes, not 2,000.
Fields are removed only after the engine has committed what they said (compare-and-delete), so an
engine that dies mid-pass leaves everything for the next one.

Keys (``darkroom.runtime.keys``: a hash tag per workflow, so a Redis Cluster spreads workflows over
slots and each script call stays in one)::

    <ns>:{wf:<id>}:inbox   hash   field -> report bytes
    <ns>:{wf:<id>}:gen     string generation counter
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

import darkroom.queue as dq
from darkroom.queue.instructions import Op, Pipeline
from darkroom.runtime.keys import RuntimeKeys

__all__ = ["EVENTS_QUEUE", "Inbox", "Report"]

EVENTS_QUEUE = "wf-events"
TICK_ATTEMPTS = 100

# Start a pass: bump the generation and read every report, atomically (one slot: the workflow's).
_DRAIN = """
redis.call('INCR', KEYS[2])
return redis.call('HGETALL', KEYS[1])
"""

_ACK = """
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return redis.call('HLEN', KEYS[1])
"""


@dataclass(frozen=True)
class Report:
    workflow_id: str
    field: str
    data: bytes
    deadline: float
    tick: bool = True


class Inbox:
    def __init__(self, queue: dq.RedisQueue, *, events_queue: str = EVENTS_QUEUE) -> None:
        self.queue = queue
        self.redis = queue.redis
        self.events_queue = events_queue
        self.namespace = queue.namespace
        self.keys = RuntimeKeys(queue.namespace)
        self._ack = self.redis.register_script(_ACK)
        self._drain = self.redis.register_script(_DRAIN)
        self._loaded = False

    def ensure_queue(self, *, lease_s: float = 5.0) -> bool:
        """Create the events queue if it does not exist; answer whether it indexes ``workflow``, which
        lets a worker claim the tick of one given run (:meth:`claim`)."""
        # A pass takes milliseconds; the lease only bounds how long a dead engine delays its runs.
        try:
            info = self.queue.get_queue(self.events_queue)
        except dq.QueueNotFound:
            with contextlib.suppress(dq.Conflict):  # another process created it first
                self.queue.create_queue(
                    self.events_queue,
                    lease_s=lease_s,
                    max_attempts=TICK_ATTEMPTS,
                    exclusivity_key="workflow",
                    indexed_keys=["workflow"],
                )
            info = self.queue.get_queue(self.events_queue)
        return "workflow" in info.indexed_keys

    def post(self, reports: Sequence[Report]) -> None:
        """Store the reports; wake the engine for the workflows whose reports ask for it."""
        self.enqueue_ticks(self.write(reports))

    def write(self, reports: Sequence[Report]) -> list[dq.NewMessage]:
        """Store the reports (one round trip); answer the ticks that must follow them, one per
        workflow whose reports ask for one (:meth:`enqueue_ticks`, or enqueued by the caller)."""
        if not reports:
            return []
        pipe = self.redis.pipeline(transaction=False)
        ticking: list[Report] = []
        for r in reports:
            pipe.hset(self.keys.inbox(r.workflow_id), r.field, r.data)
        for r in {r.workflow_id: r for r in reports if r.tick}.values():
            pipe.get(self.keys.generation(r.workflow_id))
            ticking.append(r)
        replies = pipe.execute()[len(reports) :]
        return [
            dq.NewMessage(
                id=f"{r.workflow_id}:g{int(gen or 0)}", deadline=r.deadline, metadata={"workflow": r.workflow_id}
            )
            for r, gen in zip(ticking, replies, strict=True)
        ]

    def tick(self, workflow_id: str, deadline: float, *, delay_s: float = 0.0, name: str | None = None) -> None:
        """Wake the engine for one workflow now, or after ``delay_s`` (a timer, named ``name``)."""
        if name is None:
            gen = self.redis.get(self.keys.generation(workflow_id))
            mid = f"{workflow_id}:g{int(gen or 0)}"
        else:
            mid = f"{workflow_id}:{name}"
        self.enqueue_ticks(
            [dq.NewMessage(id=mid, deadline=deadline, metadata={"workflow": workflow_id}, delay_s=delay_s)]
        )

    def enqueue_ticks(self, ticks: list[dq.NewMessage]) -> None:
        if not ticks:
            return
        try:
            self.queue.enqueue_many(self.events_queue, ticks)
        except dq.Conflict:
            # A tick of that generation exists with another deadline (the workflow's deadline moved):
            # it wakes the engine all the same. Enqueue the others one by one.
            for t in ticks:
                with contextlib.suppress(dq.Conflict):
                    self.queue.enqueue_many(self.events_queue, [t])

    def claim_ops(self, workflow_ids: Iterable[str]) -> list[Op[list[dq.Lease]]]:
        """Dequeues (not waiting) of the pending tick of each run, to run with ``queue.batch``: a
        lease won is the same exclusive right to advance the run that an engine's dequeue gives."""
        return [self.queue.ops.dequeue(self.events_queue, where={"workflow": w}, max_messages=1) for w in workflow_ids]

    # -- the same calls as operations for ``queue.batch`` (folded into another round trip) ---------
    # A script the server lost answers an error there; callers then use the plain methods.
    def write_op(self, reports: Sequence[Report]) -> Op[object]:
        """Store reports without ticking (for a caller holding their runs' ticks already)."""
        return _commands(tuple(("HSET", self.keys.inbox(r.workflow_id), r.field, r.data) for r in reports))

    def drain_op(self, workflow_id: str) -> Op[dict[str, bytes]]:
        self._ensure_loaded()
        keys = (self.keys.inbox(workflow_id), self.keys.generation(workflow_id))
        (flat,) = yield Pipeline((("EVALSHA", self._drain.sha, 2, *keys),))
        return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}

    def size_op(self, workflow_id: str) -> Op[int]:
        """How many reports the inbox holds (reading only: no pass starts)."""
        (n,) = yield Pipeline((("HLEN", self.keys.inbox(workflow_id)),))
        return int(n)

    def ack_ops(self, entries: dict[str, dict[str, bytes]]) -> list[Op[object]]:
        self._ensure_loaded()
        calls = tuple(("EVALSHA", self._ack.sha, 1, key, *args) for key, args in self._acks(entries))
        return [_commands(calls)] if calls else []

    def _acks(self, entries: dict[str, dict[str, bytes]]) -> list[tuple[str, list[str | bytes]]]:
        """Per inbox with something to acknowledge: its key and the ack script's field/value pairs."""
        return [
            (self.keys.inbox(w), [x for k, v in fields.items() for x in (k, v)])
            for w, fields in entries.items()
            if fields
        ]

    def discard_ops(self, workflow_ids: Iterable[str]) -> list[Op[object]]:
        calls: list[tuple[Any, ...]] = []
        for w in workflow_ids:
            calls += [("DEL", self.keys.inbox(w)), ("EXPIRE", self.keys.generation(w), 7 * 86400)]
        return [_commands(tuple(calls))] if calls else []

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.redis.script_load(self._ack.script)
            self.redis.script_load(self._drain.script)
            self._loaded = True

    def drain(self, workflow_ids: Sequence[str]) -> dict[str, dict[str, bytes]]:
        """Start a pass over each workflow: bump its generation and read every report (nothing is
        removed yet). One round trip for all of them."""
        replies = self._scripted(
            [(self._drain, [self.keys.inbox(w), self.keys.generation(w)], []) for w in workflow_ids]
        )
        out: dict[str, dict[str, bytes]] = {}
        for w, flat in zip(workflow_ids, replies, strict=True):
            out[w] = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
        return out

    def ack(self, entries: dict[str, dict[str, bytes]]) -> None:
        """Remove the reports a pass committed, unless a newer report replaced them meanwhile."""
        self._scripted([(self._ack, [key], args) for key, args in self._acks(entries)])

    def _scripted(self, calls: list[tuple[Any, list[str], list[str | bytes]]]) -> list[Any]:
        """Run script calls in one pipelined round trip (EVALSHA; the scripts are loaded once,
        and again if the server lost them)."""
        if not calls:
            return []
        for attempt in (1, 2):
            self._ensure_loaded()
            pipe = self.redis.pipeline(transaction=False)
            for script, keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            try:
                return list(pipe.execute())
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                self._loaded = False
        raise AssertionError("unreachable")

    def discard(self, workflow_ids: Iterable[str]) -> None:
        """Forget finished workflows' inboxes. The generation stays (a week) so that a straggler's
        late report still makes a fresh tick, which finds the run finished and discards again."""
        workflow_ids = list(workflow_ids)
        if not workflow_ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for w in workflow_ids:
            pipe.delete(self.keys.inbox(w))
            pipe.expire(self.keys.generation(w), 7 * 86400)
        pipe.execute()


def _commands(commands: tuple[tuple[Any, ...], ...]) -> Op[object]:
    return (yield Pipeline(commands))
