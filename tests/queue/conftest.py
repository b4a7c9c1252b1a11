"""The ``q`` fixture: one contract suite, run against every client of the queue.

Backends: ``redis`` (RedisQueue straight on Redis) and, once the gRPC server exists, ``grpc``
(GrpcQueue through a real server bound to 127.0.0.1 on a free port).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

import darkroom.queue as dq

BACKENDS = ["redis"]


@pytest.fixture(params=BACKENDS)
def q(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[Any]:
    if request.param == "redis":
        client = dq.RedisQueue(redis_client)
        yield client
        client.close()
        return
    raise AssertionError(request.param)
