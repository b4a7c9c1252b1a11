"""CPU per request of the HTTP telemetry middleware (``web/telemetry.py``): the same trivial ASGI
app called with and without it, in one event loop, on process time (no network, no server), so
the difference is the middleware's own cost: the request id, two clocks, the log context, the
header, two series updated.

    python -m bench.web.telemetry [--requests 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from darkroom.web.telemetry import HttpMetrics, TelemetryMiddleware


class _Route:
    path = "/v1/posts/{post_id}"


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    scope["route"] = _Route  # what the router leaves in the scope
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


def _scope(i: int, request_id: bool) -> dict[str, Any]:
    headers = [(b"host", b"localhost"), (b"accept", b"application/json")]
    if request_id:
        headers.append((b"x-request-id", b"trace-%d" % i))
    return {"type": "http", "method": "GET", "path": f"/v1/posts/01J{i:023d}", "headers": headers}


async def _run(app: Any, n: int, request_id: bool) -> float:
    scopes = [_scope(i, request_id) for i in range(n)]
    started = time.process_time()
    for scope in scopes:
        await app(scope, _receive, _send)
    return (time.process_time() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    n = parser.parse_args().requests
    wrapped = TelemetryMiddleware(_app, metrics=HttpMetrics(CollectorRegistry()))

    async def measure() -> dict[str, float]:
        await _run(wrapped, 10_000, False)  # warm-up: label children made, code paths hot
        out = {"bare": min([await _run(_app, n, False) for _ in range(3)])}
        out["generated id"] = min([await _run(wrapped, n, False) for _ in range(3)]) - out["bare"]
        out["client's id"] = min([await _run(wrapped, n, True) for _ in range(3)]) - out["bare"]
        return out

    results = asyncio.run(measure())
    print(f"{n} requests, best of 3, CPU (process time) per request")
    for name, seconds in results.items():
        print(f"  {name:<14} {seconds * 1e6:6.2f} µs" + ("" if name == "bare" else " added by the middleware"))


if __name__ == "__main__":
    main()
