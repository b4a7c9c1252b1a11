"""``RedisQueue.batch``: several operations in one pipelined round trip; a client's own enqueue
wakes its own waiting dequeues without waiting for the published wake-up."""

from __future__ import annotations

import pytest

import darkroom.queue as dq


def test_a_batch_runs_independent_operations_and_answers_each_result(rq: dq.RedisQueue) -> None:
    rq.create_queue("a")
    rq.create_queue("x", exclusivity_key="k", indexed_keys=["k"])
    rq.enqueue("x", b"older", id="x1", metadata={"k": "one"})
    enq, took, missing, none = rq.batch(
        [
            rq.ops.enqueue_many("a", [dq.NewMessage(b"p", id="m1")]),
            rq.ops.dequeue("x", where={"k": "one"}, max_messages=1),
            rq.ops.dequeue("nope"),
            rq.ops.dequeue("x", where={"k": "two"}),
        ]
    )
    assert enq == ["m1"]
    assert [lease.message.id for lease in took] == ["x1"]
    assert isinstance(missing, dq.QueueNotFound)  # an error answers its own operation only
    assert none == []
    assert rq.get("a", "m1").state == dq.State.PENDING
    # the exclusive value "one" is running now: another message of it cannot be taken
    rq.enqueue("x", b"newer", id="x2", metadata={"k": "one"})
    (again,) = rq.batch([rq.ops.dequeue("x", where={"k": "one"})])
    assert again == []
    assert rq.complete_many(took) == [True]


def test_a_batch_reloads_scripts_the_server_lost(rq: dq.RedisQueue) -> None:
    rq.create_queue("a")
    rq.redis.script_flush()
    (ids,) = rq.batch([rq.ops.enqueue_many("a", [dq.NewMessage(b"p", id="m1")])])
    assert ids == ["m1"]
    assert rq.count("a", dq.State.PENDING) == 1


def test_waiting_operations_cannot_be_batched(rq: dq.RedisQueue) -> None:
    rq.create_queue("a")
    with pytest.raises(TypeError, match="wait"):
        rq.batch([rq.ops.dequeue("a", wait_s=1.0)])


def test_an_enqueue_wakes_the_same_clients_waiting_dequeues_at_once(rq: dq.RedisQueue) -> None:
    rq.create_queue("a")
    waker = rq._get_waker()
    before = waker.arm("a")
    rq.enqueue("a", b"p")
    # moved by the enqueue itself, not (only) by the published wake-up arriving later
    assert waker.arm("a") != before
