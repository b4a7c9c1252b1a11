"""Small helpers for queue tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis

import darkroom.queue as dq

__all__ = ["Blocking", "wait_past"]


def wait_past(redis_client: redis.Redis, instant: float, timeout_s: float = 10.0) -> None:
    """Block until Redis's clock (the queue's only clock) is past ``instant`` (epoch seconds).

    Leases and delays are judged by Redis TIME, so tests wait on that condition, bounded.
    """
    give_up = time.monotonic() + timeout_s
    while True:
        sec, usec = redis_client.time()
        if sec + usec / 1e6 > instant:
            return
        if time.monotonic() > give_up:
            raise TimeoutError(f"redis clock did not pass {instant}")
        time.sleep(0.005)


class Blocking:
    """An :class:`~darkroom.queue.AsyncQueue` called from blocking code, so the contract suite runs
    the async clients too: the client lives on an event loop in its own thread, and every method
    call runs there to completion (calls from several threads run concurrently on that loop)."""

    def __init__(self, make: Callable[[], dq.AsyncQueue]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def create() -> dq.AsyncQueue:
            return make()  # on the loop: a grpc.aio channel binds to the loop it is made on

        self.client = self._run(create())

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(method(*args, **kwargs))

        return call

    def close(self) -> None:
        self._run(self.client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
