"""Responses of the HTTP app: JSON rendered by orjson, and problem+json (RFC 9457) for errors.

:func:`problem_answer` is how every error leaves the app: problem+json, except to a page request
(a path outside ``/v1/`` whose ``Accept`` prefers ``text/html``, as a browser's navigation does),
which gets the same status and headers as an HTML page when the app serves pages (the hook
``app.state.problem_page``, set by ``darkroom.web.pages.mount``). The ``/v1`` API answers
problem+json whatever it is asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from darkroom.api.problems import PROBLEM_CONTENT_TYPE, Problem

__all__ = [
    "API_PREFIX",
    "OrjsonResponse",
    "ProblemPage",
    "ProblemResponse",
    "problem_answer",
    "problem_response",
    "wants_page",
]

API_PREFIX = "/v1/"
_JSON_TYPES = ("application/json", PROBLEM_CONTENT_TYPE)


class OrjsonResponse(JSONResponse):
    """``application/json`` rendered by orjson (datetimes as RFC 3339, dataclasses as objects)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ProblemResponse(OrjsonResponse):
    media_type = PROBLEM_CONTENT_TYPE


class ProblemPage(Protocol):
    """Renders a problem as an HTML page (``app.state.problem_page``)."""

    def __call__(self, request: Request, problem: Problem, headers: Mapping[str, str]) -> Response: ...


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> ProblemResponse:
    """The response for ``problem``, with its own headers and ``headers``."""
    return ProblemResponse(problem.body(), status_code=problem.status, headers={**problem.headers, **(headers or {})})


def _quality(accept: str, media_types: tuple[str, ...]) -> float:
    """The highest ``q`` that ``accept`` gives any of ``media_types`` by name (wildcards ignored:
    ``*/*`` is what scripts send, and they get problem+json)."""
    best = 0.0
    for media_range in accept.split(","):
        name, _, params = media_range.partition(";")
        if name.strip().lower() not in media_types:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_page(scope: Scope) -> bool:
    """Whether a request is a page request: its path is outside ``/v1/`` and its ``Accept`` names
    ``text/html`` at least as high as JSON."""
    if str(scope.get("path", "")).startswith(API_PREFIX):
        return False
    accept = Headers(scope=scope).get("accept", "")
    html = _quality(accept, ("text/html",))
    return html > 0 and html >= _quality(accept, _JSON_TYPES)


def problem_answer(scope: Scope, problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    """The answer to a request that met ``problem``: an HTML page to a page request
    (:func:`wants_page`) when the app has pages, problem+json otherwise (and always under ``/v1/``)."""
    app = scope.get("app")
    page: ProblemPage | None = getattr(app.state, "problem_page", None) if app is not None else None
    if page is None or str(scope.get("path", "")).startswith(API_PREFIX):
        return problem_response(problem, headers)
    if not wants_page(scope):
        # the same path answers HTML to a browser: a cache must tell the two apart
        return problem_response(problem, {**(headers or {}), "Vary": "Accept"})
    return page(Request(scope), problem, headers or {})
