"""Small helpers for queue tests."""

from __future__ import annotations

import time

import redis


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
