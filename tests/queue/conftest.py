"""The ``q`` fixture: one contract suite, run against every client of the queue.

Backends: ``redis`` (RedisQueue straight on Redis) and ``grpc`` (GrpcQueue through a real
QueueServer bound to 127.0.0.1 on a free port, in a background thread, over the same Redis).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

import darkroom.queue as dq

BACKENDS = ["redis", "grpc"]


@pytest.fixture(scope="session")
def queue_server(redis_url: str) -> Iterator[Any]:
    """One gRPC queue server per session; each test still gets a flushed database through
    ``redis_client``. No sweeper, so both backends see the same state changes."""
    from darkroom.queue.server import ServerThread

    with ServerThread(redis_url, sweep_interval_s=None) as server:
        yield server


@pytest.fixture(params=BACKENDS)
def q(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[Any]:
    if request.param == "redis":
        client: Any = dq.RedisQueue(redis_client)
    elif request.param == "grpc":
        server = request.getfixturevalue("queue_server")
        client = dq.connect(server.url)
    else:
        raise AssertionError(request.param)
    yield client
    client.close()
