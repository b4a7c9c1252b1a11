"""The two hottest reads, ``GET /v1/feed`` and ``GET /v1/posts/{post_id}``, served by the edge in
the worker thread that identified the caller, below FastAPI's router and dependency resolution.

They are the same route functions (``web.api.feed.home_feed``, ``web.api.posts.get_post``) with
the same arguments: only the way there is shorter. On a feed page the router's matching, the
dependency resolution, the middleware below the edge (the body limit and idempotency, which do
nothing on a GET) and a second hand-off to a worker thread were about a fifth of the server's CPU
(docs/benchmarks.md). A request the lane does not take exactly as FastAPI would (a query parameter
it does not know or that is not canonical, a repeated one, ``HEAD``) is declined and goes the
long way, so every error of the query's parsing is FastAPI's own. Errors raised by the route are
answered by the same translation as the app's problem handlers (``web.problems``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.problems import problem_for
from darkroom.errors import DarkroomError
from darkroom.social.viewer import Viewer, require
from darkroom.web.api.feed import home_feed
from darkroom.web.api.posts import get_post
from darkroom.web.auth import auth_of_scope
from darkroom.web.deps import WebDeps
from darkroom.web.fields import FIELDS_PARAMETER, parse_fields
from darkroom.web.pagination import MAX_LIMIT, PageRequest
from darkroom.web.problems import HTTP_STATUSES
from darkroom.web.responses import problem_answer

__all__ = ["FastLane", "LaneRoute"]

_LIMIT = re.compile(r"[1-9][0-9]{0,2}")  # what FastAPI reads as the same int; anything else: declined
Query = dict[str, str]


@dataclass(frozen=True, slots=True)
class LaneRoute:
    """One route of the lane: its template (the ``route`` the telemetry labels it by), its path's
    pattern, the query parameters it takes, and how it is served."""

    path: str  # the FastAPI template, e.g. "/v1/posts/{post_id}"
    pattern: re.Pattern[str]
    parameters: frozenset[str]
    serve: Callable[[Request, re.Match[str], Viewer | None, WebDeps, Query], Response]


def _page(query: Query) -> PageRequest | None:
    limit = query.get("limit")
    if limit is None:
        return PageRequest(cursor=query.get("cursor") or None)
    if not _LIMIT.fullmatch(limit) or int(limit) > MAX_LIMIT:
        return None
    return PageRequest(int(limit), query.get("cursor") or None)


def _feed(request: Request, match: re.Match[str], viewer: Viewer | None, deps: WebDeps, query: Query) -> Response:
    page = _page(query)
    if page is None:
        raise _Declined
    viewer = require(viewer)  # as the route's SignedIn dependency
    return home_feed(request, viewer, deps, page, parse_fields(query.get(FIELDS_PARAMETER), Post.DESCRIPTOR))


def _post(request: Request, match: re.Match[str], viewer: Viewer | None, deps: WebDeps, query: Query) -> Response:
    mask = parse_fields(query.get(FIELDS_PARAMETER), Post.DESCRIPTOR)
    return get_post(request, match.group(1), viewer, deps, mask)


ROUTES = (
    LaneRoute("/v1/feed", re.compile(r"/v1/feed"), frozenset({"limit", "cursor", FIELDS_PARAMETER}), _feed),
    LaneRoute("/v1/posts/{post_id}", re.compile(r"/v1/posts/([^/]+)"), frozenset({FIELDS_PARAMETER}), _post),
)


class _Declined(Exception):
    """The lane does not take this request: FastAPI will."""


class FastLane:
    """Serves :data:`ROUTES` for the edge (``web.edge``), given the app's dependencies."""

    def __init__(self, deps: WebDeps, routes: tuple[LaneRoute, ...] = ROUTES) -> None:
        self.deps = deps
        self.routes = routes

    def route_for(self, scope: Scope) -> LaneRoute | None:
        """The lane's route for ``scope`` (a cheap look at the method and path), or None."""
        if scope["method"] != "GET":
            return None
        path = scope["path"]
        for route in self.routes:
            if route.pattern.fullmatch(path):
                return route
        return None

    def serve(self, route: LaneRoute, scope: Scope) -> Response | None:
        """``route``'s answer to the request of ``scope`` (blocking: run on a worker thread, after
        the edge attached the caller), or None when the lane declines it."""
        match = route.pattern.fullmatch(scope["path"])
        assert match is not None, "route_for chose this route for this path"
        query = _query(scope["query_string"], route.parameters)
        if query is None:
            return None
        scope["route"] = route  # the telemetry's label, as FastAPI's router leaves its route
        request = Request(scope)
        try:
            return route.serve(request, match, auth_of_scope(scope).viewer, self.deps, query)
        except _Declined:
            return None
        except DarkroomError as exc:  # as web.problems' handler of the domain's errors answers it
            return problem_answer(scope, problem_for(exc, HTTP_STATUSES, instance=scope["path"]))


def _query(raw: bytes, parameters: frozenset[str]) -> Query | None:
    """The query's parameters when each is one of ``parameters`` and given once; else None."""
    if not raw:
        return {}
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    query = dict(pairs)
    if len(query) != len(pairs) or not query.keys() <= parameters:
        return None
    return query
