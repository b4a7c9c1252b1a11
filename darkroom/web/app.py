"""The HTTP app: :func:`create_app` builds a FastAPI app from :class:`~darkroom.web.deps.WebDeps`
and the routers of :mod:`darkroom.web.api` (or the ones given).

Every request passes, outermost first: the 500 handler (problem+json, no internals) -> telemetry
(the request id, ``darkroom_http_*`` metrics: ``web/telemetry.py``) -> gzip (JSON
and text over 1 KB, never media nor anything under ``/v1/media/``; a compressed answer's strong
ETag gains ``-gzip``: ``web/compression.py``) -> the edge (who is asking,
rate limits and their headers; it answers ``GET /v1/feed`` and ``GET /v1/posts/{id}`` itself:
``web/fast_lane.py``) -> the body limit (64 KiB, uploads apart) -> idempotency keys
(every POST) -> the problem handlers -> CSRF (an app-wide dependency) -> the route. Responses are
orjson; OpenAPI at ``/openapi.json`` documents every route's answers (the resources' schemas from
their protos, ``web/openapi.py``) and its problems as ``application/problem+json`` (400 for a bad
request, never FastAPI's 422 shape).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI

from darkroom.api.idempotency import IdempotencyStore
from darkroom.api.ratelimit import RateLimiter
from darkroom.observability.registries import metrics_for
from darkroom.web.auth import check_csrf
from darkroom.web.body_limit import BodyLimitMiddleware
from darkroom.web.compression import (
    GZIP_EXCLUDED_CONTENT_TYPES,
    GZIP_MINIMUM_BYTES,
    UNCOMPRESSED_PATHS,
    Compression,
)
from darkroom.web.deps import WebDeps
from darkroom.web.edge import EdgeMiddleware
from darkroom.web.idempotency import IdempotencyMiddleware
from darkroom.web.openapi import ERROR_RESPONSES, PROBLEM_SCHEMA, openapi_document
from darkroom.web.problems import install_problem_handlers
from darkroom.web.responses import OrjsonResponse
from darkroom.web.telemetry import HttpMetrics, TelemetryMiddleware

if TYPE_CHECKING:
    from darkroom.web.fast_lane import FastLane

__all__ = [
    "GZIP_EXCLUDED_CONTENT_TYPES",
    "GZIP_MINIMUM_BYTES",
    "PROBLEM_SCHEMA",
    "REDIS_PREFIX",
    "UPLOAD_THREADS",
    "UNCOMPRESSED_PATHS",
    "create_app",
]

REDIS_PREFIX = "http"  # rate limits and idempotency records (api.ratelimit, api.idempotency)
UPLOAD_THREADS = 64  # uploads in flight per worker, each on a thread while its body streams in


def _default_routers() -> Sequence[APIRouter]:
    from darkroom.web.api import ROUTERS

    return ROUTERS


def _fast_lane(deps: WebDeps) -> FastLane:
    from darkroom.web.fast_lane import FastLane  # it imports the routes, as _default_routers does

    return FastLane(deps)


def create_app(
    deps: WebDeps,
    *,
    routers: Sequence[APIRouter] | None = None,
    pages: bool | None = None,
    fast_lane: bool | None = None,
) -> FastAPI:
    """The HTTP app over ``deps``, serving ``routers`` (default: :data:`darkroom.web.api.ROUTERS`)
    and the web pages (``pages``; default: with the default routers; docs/web.md); the edge serves
    the hottest reads itself (``fast_lane``; default: with the default routers; web/fast_lane.py)."""

    @asynccontextmanager
    async def lifespan(started: FastAPI) -> AsyncIterator[None]:
        # A request's blocking work is milliseconds of Python holding the GIL: past a few threads
        # they only take turns (anyio's default of 40 cost a third more CPU per request under load,
        # docs/social.md). Uploads wait on the network for minutes: threads of their own.
        anyio.to_thread.current_default_thread_limiter().total_tokens = deps.settings.http_threads
        started.state.upload_threads = anyio.CapacityLimiter(UPLOAD_THREADS)
        yield
        if "impressions" in vars(deps):  # made at the first page shown: publish what it still holds
            deps.impressions.close()

    app = FastAPI(
        title="Darkroom",
        version="1",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
        dependencies=[Depends(check_csrf)],
        responses=ERROR_RESPONSES,
    )
    app.state.deps = deps
    for router in _default_routers() if routers is None else routers:
        app.include_router(router)
    if (routers is None) if pages is None else pages:
        from darkroom.web.pages import mount  # Jinja2 and the templates only for an app with pages

        mount(app)
    install_problem_handlers(app)
    limits = deps.limits
    # add_middleware puts each one outside the ones before it
    app.add_middleware(
        IdempotencyMiddleware,
        store=IdempotencyStore(
            deps.redis,
            prefix=REDIS_PREFIX,
            ttl_s=limits.idempotency_ttl_s,
            running_ttl_s=limits.idempotency_running_ttl_s,
        ),
        max_body_bytes=limits.idempotency_max_body_bytes,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(
        EdgeMiddleware,
        authenticator=deps.authenticator,
        limiter=RateLimiter(deps.redis, prefix=REDIS_PREFIX),
        limits=limits,
        fast_lane=_fast_lane(deps) if ((routers is None) if fast_lane is None else fast_lane) else None,
    )
    app.add_middleware(Compression)
    # outermost of ours: it times everything below, and the request id is set before the edge logs
    app.add_middleware(TelemetryMiddleware, metrics=metrics_for(deps.registry, HttpMetrics))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
