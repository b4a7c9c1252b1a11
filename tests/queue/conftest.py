"""The ``q`` fixture: one contract suite, run against every client of the queue.

Backends: ``redis`` (RedisQueue straight on Redis), ``grpc`` (GrpcQueue through a real
QueueServer bound to 127.0.0.1 on a free port, in a background thread, over the same Redis),
their asyncio twins ``redis-async`` and ``grpc-async`` (driven through ``helpers.Blocking``), and
``memory`` (``darkroom.queue.testing.MemoryQueue`` on a manual clock, no Redis).

A test that needs a backend's internals names the backends it runs on with
``@pytest.mark.backends("redis", "grpc")`` (or ``pytestmark`` for a module). Tests wait for
time to pass with the ``wait_past`` fixture (Redis's clock, or the memory queue's manual clock)
and reach the same queues through a second client with ``other``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import darkroom.queue as dq
from darkroom.queue.testing import ManualClock, MemoryQueue
from tests.queue import helpers

BACKENDS = ("redis", "redis-async", "grpc", "grpc-async", "memory")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = marker.args if marker else BACKENDS
        unknown = set(names) - set(BACKENDS)
        assert not unknown, f"unknown queue backends {unknown}"
        metafunc.parametrize("backend", names)


@dataclass
class Store:
    """One backend under test: its client, how to let its clock pass an instant, and how to open
    a second (blocking) client on the same queues."""

    q: Any
    wait_past: Callable[[float], None]
    other: Callable[[], Any]


@pytest.fixture(scope="session")
def queue_server(redis_url: str) -> Iterator[Any]:
    """One gRPC queue server per session; each test still gets a flushed database through
    ``redis_client``. No sweeper, so both backends see the same state changes."""
    from darkroom.queue.server import ServerThread

    with ServerThread(redis_url, sweep_interval_s=None) as server:
        yield server


@pytest.fixture
def store(request: pytest.FixtureRequest, backend: str) -> Iterator[Store]:
    if backend == "memory":
        clock = ManualClock()
        memory = MemoryQueue(clock=clock)

        def advance_past(instant: float) -> None:
            clock.now = max(clock.now, instant + 0.001)

        yield Store(memory, advance_past, lambda: memory)
        return
    redis_client = request.getfixturevalue("redis_client")
    redis_url: str = request.getfixturevalue("redis_url")
    client: Any
    if backend == "redis":
        client = dq.RedisQueue(redis_client)
    elif backend == "redis-async":
        client = helpers.Blocking(lambda: dq.connect_async(redis_url))
    else:
        url = request.getfixturevalue("queue_server").url
        client = dq.connect(url) if backend == "grpc" else helpers.Blocking(lambda: dq.connect_async(url))
    yield Store(client, lambda instant: helpers.wait_past(redis_client, instant), lambda: dq.connect(redis_url))
    client.close()


@pytest.fixture
def q(store: Store) -> Any:
    return store.q


@pytest.fixture
def wait_past(store: Store) -> Callable[[float], None]:
    """Block until the backend's clock (the queue's only clock) is past ``instant``."""
    return store.wait_past


@pytest.fixture
def other(store: Store) -> Iterator[Any]:
    """A second blocking client on the same queues (for the memory backend: the same object)."""
    client = store.other()
    yield client
    if client is not store.q:
        client.close()
