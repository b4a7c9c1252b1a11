"""An engine's pass hands some of the tasks it enqueues to a grab (the Grab protocol), in the
enqueue's own script call: here a test double of that protocol, with a real Redis and SQLite."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import darkroom.queue as dq
from darkroom.runtime.leaser import Leaser
from darkroom.runtime.queues import ensure_queues
from darkroom.runtime.slots import Slots
from darkroom.runtime.task import TaskSpec
from darkroom.runtime.workflow import Engine
from darkroom.runtime.workflow.inbox import EVENTS_QUEUE
from darkroom.runtime.workflow.queue_work import Grab, Take
from tests.runtime import funcs
from tests.runtime.conftest import Platform


class _Taker:
    """Takes up to ``slots`` tasks of each queue a pass enqueues to, and keeps what it was given."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.asked: list[dict[str, int]] = []
        self.leases: list[dq.Lease] = []

    def wants(self, enqueued: Mapping[str, int]) -> dict[str, Take]:
        self.asked.append(dict(enqueued))
        return {q: Take(min(n, self.slots), None, 30.0) for q, n in enqueued.items() if self.slots}

    def took(self, leases: list[dq.Lease]) -> None:
        self.leases += leases


def _pass(platform: Platform, workflow: str, inputs: dict[str, object], grab: Grab) -> str:
    ensure_queues(platform.rq, funcs.registry)
    run = platform.workflows.start(workflow, inputs)
    engine = Engine(platform.rq, platform.db, funcs.registry)
    engine.setup()
    ticks = platform.rq.dequeue(EVENTS_QUEUE, max_messages=1, wait_s=0)
    assert [t.message.metadata["workflow"] for t in ticks] == [run.id]
    engine.advance_leased(ticks, grab=grab)
    return run.id


def test_a_pass_hands_the_tasks_it_enqueues_to_the_grab(platform: Platform) -> None:
    taker = _Taker(slots=1)
    run_id = _pass(platform, "chain", {}, taker)
    assert taker.asked == [{funcs.QUEUE: 1}]
    (lease,) = taker.leases
    spec = TaskSpec.decode(lease.message.payload)
    assert (spec.workflow_id, spec.step) == (run_id, "s0")
    assert platform.rq.get(funcs.QUEUE, lease.message.id).state == dq.State.RUNNING
    assert platform.rq.dequeue(funcs.QUEUE, max_messages=10, wait_s=0) == []  # nothing left for others
    assert platform.workflows.get(run_id).steps["s0"].state == "running"


def test_a_grab_takes_only_its_share_and_the_rest_waits_in_the_queue(platform: Platform) -> None:
    taker = _Taker(slots=3)
    run_id = _pass(platform, "gated", {"paths": [f"/nonexistent/{i}" for i in range(5)]}, taker)
    assert taker.asked == [{funcs.QUEUE: 5}]
    assert len(taker.leases) == 3
    rest = platform.rq.dequeue(funcs.QUEUE, max_messages=10, wait_s=0)
    assert len(rest) == 2
    assert {lease.message.id for lease in taker.leases}.isdisjoint(lease.message.id for lease in rest)
    assert {TaskSpec.decode(lease.message.payload).workflow_id for lease in rest} == {run_id}


def test_a_grab_that_wants_nothing_is_given_nothing(platform: Platform) -> None:
    taker = _Taker(slots=0)
    _pass(platform, "chain", {}, taker)
    assert taker.asked == [{funcs.QUEUE: 1}] and taker.leases == []
    assert len(platform.rq.dequeue(funcs.QUEUE, max_messages=10, wait_s=0)) == 1


def test_the_worker_s_leaser_is_a_grab_of_its_free_slots(rq: dq.RedisQueue) -> None:
    """The leaser alone (no worker): its free slots spread over the queues a pass enqueued to
    that it serves, each with the queue's first lease; nothing once it is stopping."""
    started: list[dq.Lease] = []
    leaser = Leaser(rq, Slots(3), started.extend, queues=[funcs.QUEUE], shape={})
    leaser.prepare(funcs.registry, {funcs.QUEUE: ()})
    grab: Grab = leaser
    grant = min(f.lease_s for f in funcs.registry if f.queue == funcs.QUEUE)
    assert grab.wants({"not-served": 4, funcs.QUEUE: 5}) == {funcs.QUEUE: Take(3, None, grant)}
    assert grab.wants({funcs.QUEUE: 2}) == {funcs.QUEUE: Take(2, None, grant)}
    grab.took([])
    assert started == []
    stop = threading.Event()
    stop.set()
    leaser.run(stop)  # returns at once: stopping
    assert grab.wants({funcs.QUEUE: 2}) == {}
