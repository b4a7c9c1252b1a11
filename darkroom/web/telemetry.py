"""Every request measured and named: ``darkroom_http_requests_total{route,method,status}``,
``darkroom_http_request_duration_seconds{route,method}``, and a request id in the log context.

The route label is the route's template (``/v1/posts/{post_id}``), read from the scope once the
router has matched it (or matched here against the app's templates, for a request the edge
answered before routing: a 401, a 429), never the raw path: a thousand posts are one series. A path no route
matched is ``unmatched``, a method outside the usual ones ``other``, so no client can grow the
label sets. The time runs from the first byte of the request to the last of the response (a
streamed body included).

The request id is the client's ``X-Request-ID`` when it is well formed (1 to 64 characters of
``A-Z a-z 0-9 . _ -``), else a new one; it is set in :mod:`darkroom.log_context` for every log line
the request causes and echoed on the response. Pure ASGI: streaming passes through untouched.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from darkroom.log_context import log_context

__all__ = ["REQUEST_ID_HEADER", "UNMATCHED", "HttpMetrics", "TelemetryMiddleware", "route_label"]

REQUEST_ID_HEADER = "x-request-id"
UNMATCHED = "unmatched"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_HEADER = REQUEST_ID_HEADER.encode()


class HttpMetrics:
    """The HTTP edge's series, on ``registry``; label children are kept (``labels()`` costs more
    than the observation)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "darkroom_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "darkroom_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template and method",
            ["route", "method"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._times: dict[tuple[str, str], Any] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        count = self._counts.get((route, method, status))
        if count is None:
            count = self._counts[(route, method, status)] = self.requests.labels(route, method, str(status))
        count.inc()
        timer = self._times.get((route, method))
        if timer is None:
            timer = self._times[(route, method)] = self.duration.labels(route, method)
        timer.observe(seconds)


def route_label(scope: Scope) -> str:
    """The template of the route the router matched (it leaves it in the scope), or None."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


class _Templates:
    """Every route's template and pattern, read from the app at the first request the router never
    saw (the edge refused it: a 401, a 429), so that one is labelled by its route too."""

    def __init__(self) -> None:
        self._table: list[tuple[re.Pattern[str], str]] | None = None

    def label(self, scope: Scope) -> str:
        if self._table is None:
            app = scope.get("app")
            contexts = iter_route_contexts(getattr(app, "routes", []))
            self._table = [(compile_path(c.path)[0], c.path) for c in contexts if isinstance(c.path, str)]
        path = scope["path"]
        for pattern, template in self._table:
            if pattern.match(path):
                return template
        return UNMATCHED


def _request_id(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == _HEADER:
            return value if _REQUEST_ID.fullmatch(value) else os.urandom(16).hex().encode()
    return os.urandom(16).hex().encode()


class TelemetryMiddleware:
    """Times and counts each HTTP request and gives it a request id (outermost of the app's own)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates = _Templates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _request_id(scope)
        status = 500  # unless a response starts: the app raised, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_HEADER, rid)]
            await send(message)

        method = scope["method"]
        try:
            with log_context(request_id=rid.decode("ascii")):
                await self.app(scope, receive, send_with_id)
        finally:
            route = route_label(scope)
            if route == UNMATCHED and status != 404:  # answered before routing
                route = self._templates.label(scope)
            self.metrics.observe(
                route, method if method in _METHODS else "other", status, time.perf_counter() - started
            )
