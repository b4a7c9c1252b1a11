"""Hypothesis throws malformed requests at the client: typed errors only, nothing half-written."""

from __future__ import annotations

from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import darkroom.queue as dq

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.binary(max_size=64),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=70), st.one_of(st.text(max_size=300), st.integers()), max_size=40),
)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _snapshot(r: redis.Redis) -> dict[bytes, Any]:
    """Every key with its type and size, to prove a refused request wrote nothing."""
    out: dict[bytes, Any] = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        if kind == b"stream":
            out[key] = r.xlen(key)
        elif kind == b"zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif kind == b"hash":
            out[key] = r.hgetall(key)
        elif kind == b"set":
            out[key] = r.smembers(key)
        else:
            out[key] = r.get(key)
    return out


def _refused_cleanly(r: redis.Redis, call: Any) -> None:
    before = _snapshot(r)
    try:
        call()
    except dq.QueueError:
        assert _snapshot(r) == before, "a refused request changed stored state"


@SETTINGS
@given(payload=junk, deadline=junk, metadata=junk, mid=junk, delay=junk, attempts=junk)
def test_malformed_enqueue(
    rq: dq.RedisQueue,
    redis_client: redis.Redis,
    payload: Any,
    deadline: Any,
    metadata: Any,
    mid: Any,
    delay: Any,
    attempts: Any,
) -> None:
    rq.create_queue("m", exclusivity_key="asset", indexed_keys=["codec"])
    batch = [
        dq.NewMessage(b"ok", metadata={"asset": "a"}),
        dq.NewMessage(payload, deadline, metadata, mid, delay, attempts),
    ]
    _refused_cleanly(redis_client, lambda: rq.enqueue_many("m", batch))


@SETTINGS
@given(
    queue=junk,
    n=junk,
    lease=junk,
    where=junk,
    wait=st.one_of(junk, st.just(0.0)),
    fields=junk,
)
def test_malformed_dequeue(
    rq: dq.RedisQueue, redis_client: redis.Redis, queue: Any, n: Any, lease: Any, where: Any, wait: Any, fields: Any
) -> None:
    rq.create_queue("m", indexed_keys=["codec"])
    rq.enqueue("m", b"x", metadata={"codec": "h264"})
    if isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait > 0:
        wait = 0.0  # keep examples fast: long polls are tested elsewhere
    _refused_cleanly(
        redis_client,
        lambda: rq.dequeue(queue, max_messages=n, lease_s=lease, where=where, wait_s=wait, fields=fields),
    )
    _refused_cleanly(
        redis_client, lambda: rq.dequeue("m", max_messages=n, lease_s=lease, where=where, wait_s=0, fields=fields)
    )


@SETTINGS
@given(mid=junk, deadline=junk, metadata=junk, payload=junk, delay=junk)
def test_malformed_update(
    rq: dq.RedisQueue, redis_client: redis.Redis, mid: Any, deadline: Any, metadata: Any, payload: Any, delay: Any
) -> None:
    rq.create_queue("m", exclusivity_key="asset")
    real = rq.enqueue("m", b"x", metadata={"asset": "a"}, id="real")
    for target in (mid, real):
        _refused_cleanly(
            redis_client,
            lambda t=target: rq.update("m", t, deadline=deadline, metadata=metadata, payload=payload, delay_s=delay),
        )


@SETTINGS
@given(token=junk, error=junk, result=junk, retry_in=junk, lease_s=junk)
def test_malformed_settle(
    rq: dq.RedisQueue, redis_client: redis.Redis, token: Any, error: Any, result: Any, retry_in: Any, lease_s: Any
) -> None:
    rq.create_queue("m")
    rq.enqueue("m", b"x")
    (lease,) = rq.dequeue("m")
    forged = dq.Lease(queue="m", message=lease.message, token=token, expires_at=0.0)
    _refused_cleanly(redis_client, lambda: rq.complete(forged, result))
    _refused_cleanly(redis_client, lambda: rq.fail(forged, error, retry_in_s=retry_in))
    _refused_cleanly(redis_client, lambda: rq.extend(forged, lease_s=lease_s))
    _refused_cleanly(redis_client, lambda: rq.complete(lease, result) if not isinstance(result, bytes) else None)
    assert rq.get("m", lease.message.id).state == dq.State.RUNNING
