"""The sweeper against a real Redis: expired leases, due delays and retention, with no consumer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
import redis

import darkroom.queue as dq
from darkroom.queue.keys import Keys
from darkroom.queue.sweeper import BlockingSweeper, Sweeper, next_sleep_s

DEADLINE_S = 10.0


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = DEADLINE_S) -> None:
    """Bounded wait for a condition (polls state; never used to order events)."""
    give_up = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.01)


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    give_up = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.01)


async def _state(aq: dq.AsyncRedisQueue, queue: str, mid: str) -> dq.State | None:
    return (await aq.get(queue, mid, fields=["state"])).state


def test_next_sleep_follows_the_earliest_event() -> None:
    now = 1000.0
    r = [dq.SweepResult(0, 0, now + 0.3), dq.SweepResult(0, 0, None), dq.SweepResult(0, 0, now + 0.1)]
    assert next_sleep_s(r, 1000, 1.0, now) == pytest.approx(0.1)
    assert next_sleep_s([dq.SweepResult(0, 0, now + 5)], 1000, 1.0, now) == 1.0
    assert next_sleep_s([dq.SweepResult(1000, 0, None)], 1000, 1.0, now) == 0.0  # more work waiting
    assert 0 < next_sleep_s([dq.SweepResult(0, 0, now - 5)], 1000, 1.0, now) < 0.1  # overdue: soon, not spin


def test_expired_lease_goes_back_to_pending(rq: dq.RedisQueue, redis_url: str) -> None:
    rq.create_queue("sw", max_attempts=3)
    mid = rq.enqueue("sw", b"x")
    (lease,) = rq.dequeue("sw", lease_s=0.05)

    async def main() -> None:
        async with dq.AsyncRedisQueue.from_url(redis_url) as aq:
            # interval far beyond the test's deadline: only next_event_at can wake the sweeper in time
            sweeper = Sweeper(aq, interval_s=60.0)
            task = asyncio.create_task(sweeper.run())
            await eventually(lambda: _is(aq, "sw", mid, dq.State.PENDING), "the lease to expire")
            sweeper.stop()
            await asyncio.wait_for(task, DEADLINE_S)

    asyncio.run(main())
    m = rq.get("sw", mid)
    assert m.attempts == 1 and m.last_error == "lease expired"
    with pytest.raises(dq.LeaseLost):
        rq.complete(lease)
    assert int(rq.redis.hget(Keys().counters("sw"), "expired") or 0) == 1


async def _is(aq: dq.AsyncRedisQueue, queue: str, mid: str, state: dq.State) -> bool:
    return await _state(aq, queue, mid) is state


def test_due_delay_is_promoted(rq: dq.RedisQueue, redis_url: str) -> None:
    rq.create_queue("sw")
    mid = rq.enqueue("sw", b"x", delay_s=0.05)
    assert rq.get("sw", mid).state is dq.State.INVISIBLE

    async def main() -> None:
        async with dq.AsyncRedisQueue.from_url(redis_url) as aq:
            sweeper = Sweeper(aq, interval_s=60.0)
            task = asyncio.create_task(sweeper.run())
            await eventually(lambda: _is(aq, "sw", mid, dq.State.PENDING), "the delay to fall due")
            sweeper.stop()
            await asyncio.wait_for(task, DEADLINE_S)

    asyncio.run(main())


def test_finished_messages_are_purged_after_retention(rq: dq.RedisQueue, redis_url: str) -> None:
    rq.create_queue("sw", retention_s=0.05)
    rq.create_queue("keep")  # default retention: a week
    done = rq.enqueue("sw", b"x")
    kept = rq.enqueue("keep", b"y")
    for name in ("sw", "keep"):
        (lease,) = rq.dequeue(name)
        rq.complete(lease)
    canceled = rq.enqueue("sw", b"z")
    assert rq.cancel("sw", canceled)

    async def gone() -> bool:
        return rq.count("sw") == 0

    async def main() -> None:
        async with dq.AsyncRedisQueue.from_url(redis_url) as aq:
            sweeper = Sweeper(aq, interval_s=0.02)
            task = asyncio.create_task(sweeper.run())
            await eventually(gone, "finished messages to be purged")
            sweeper.stop()
            await asyncio.wait_for(task, DEADLINE_S)

    asyncio.run(main())
    for mid in (done, canceled):
        with pytest.raises(dq.MessageNotFound):
            rq.get("sw", mid)
    assert rq.get("keep", kept).state is dq.State.COMPLETED


def test_blocking_sweeper_in_a_thread(rq: dq.RedisQueue, redis_client: redis.Redis) -> None:
    rq.create_queue("sw", max_attempts=1)
    mid = rq.enqueue("sw", b"x")
    rq.dequeue("sw", lease_s=0.05)
    sweeper = BlockingSweeper(dq.RedisQueue(redis_client), interval_s=60.0).start()
    try:
        # out of attempts: the expired lease ends the message as errored
        wait_until(lambda: rq.get("sw", mid).state is dq.State.ERRORED, "the lease to expire")
    finally:
        sweeper.stop()
    assert sweeper.sweeps >= 1


def test_sweeper_survives_an_unreachable_redis_and_stops_promptly() -> None:
    async def main() -> None:
        async with dq.AsyncRedisQueue.from_url("redis://127.0.0.1:1/0") as aq:
            sweeper = Sweeper(aq, interval_s=60.0)
            task = asyncio.create_task(sweeper.run())

            async def failed() -> bool:
                return sweeper.failures >= 1

            await eventually(failed, "a failed pass")
            assert not task.done()
            sweeper.stop()
            await asyncio.wait_for(task, DEADLINE_S)
            assert sweeper.sweeps == 0

    asyncio.run(main())


def test_interval_must_be_positive(redis_url: str) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        Sweeper(dq.AsyncRedisQueue.from_url(redis_url), interval_s=0)
