"""Darkroom through its gRPC queue server (``darkroom.queue.server``) with ``GrpcQueue``.

The same worker loop as ``darkroom_direct``, one network hop further. The server and the
client are imported lazily: until they exist the benchmark row reads "pending".
``python -m bench.queue.systems.darkroom_grpc --url REDIS_URL server --port P`` runs a server.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.queue.recorder import Recorder
from bench.queue.systems._cli import QUEUE, Adapter, main

BATCH = 100
ENQUEUE_BATCH = 1000


def available() -> bool:
    """Whether the gRPC server and client modules are installed yet."""
    try:
        return all(
            importlib.util.find_spec(m) is not None for m in ("darkroom.queue.server", "darkroom.queue.grpc_client")
        )
    except ModuleNotFoundError:
        return False


def serve(redis_url: str, port: int) -> None:
    """Run the queue server (with its sweeper, as deployed) in this process until killed."""
    import asyncio

    from darkroom.config import Settings
    from darkroom.queue import server

    # Loopback only, and measured like the other peers: without API keys, asked for explicitly.
    settings = Settings(redis_url=redis_url, grpc_addr=f"127.0.0.1:{port}", grpc_auth="none")
    asyncio.run(server.serve(settings))


def _client(url: str) -> Any:
    from darkroom.queue.grpc_client import GrpcQueue

    return GrpcQueue.from_url(url)


def setup(url: str) -> None:
    _client(url).create_queue(QUEUE, lease_s=300.0)


def enqueue(url: str, n: int) -> None:
    from darkroom.queue import NewMessage

    q = _client(url)
    for start in range(0, n, ENQUEUE_BATCH):
        now = str(time.time()).encode()
        q.enqueue_many(QUEUE, [NewMessage(now) for _ in range(min(ENQUEUE_BATCH, n - start))])


def worker(url: str, rec: Recorder) -> None:
    q = _client(url)
    while True:
        leases = q.dequeue(QUEUE, max_messages=BATCH, wait_s=1.0, fields=("payload",))
        if not leases:
            continue
        started = [(float(lease.message.payload), time.time()) for lease in leases]
        q.complete_many(leases)
        done = time.time()
        for enqueued_at, started_at in started:
            rec.record(enqueued_at, started_at, done)


def sender(url: str) -> Callable[[int], None]:
    from darkroom.queue import NewMessage

    q = _client(url)

    def send(k: int) -> None:
        stamp = str(time.time()).encode()
        if k == 1:
            q.enqueue(QUEUE, stamp)
        else:
            q.enqueue_many(QUEUE, [NewMessage(stamp) for _ in range(k)])

    return send


if __name__ == "__main__":
    if "server" in sys.argv[1:]:
        # --url REDIS_URL server --port P: the shared CLI has no server command
        parser = argparse.ArgumentParser()
        parser.add_argument("--url", required=True)
        parser.add_argument("command", choices=["server"])
        parser.add_argument("--port", type=int, required=True)
        ns = parser.parse_args()
        serve(ns.url, ns.port)
    else:
        main(Adapter(enqueue=enqueue, worker=worker, sender=sender, setup=setup))
