from __future__ import annotations

import darkroom.queue as dq


def test_enqueue_dequeue_complete(rq: dq.RedisQueue) -> None:
    rq.create_queue("encode")
    mid = rq.enqueue("encode", b"payload")
    (lease,) = rq.dequeue("encode")
    assert lease.message.id == mid
    assert lease.message.payload == b"payload"
    rq.complete(lease, b"done")
    m = rq.get("encode", mid)
    assert m.state is dq.State.COMPLETED
    assert m.result == b"done"
