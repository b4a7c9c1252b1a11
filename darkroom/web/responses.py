"""Responses of the HTTP app: JSON rendered by orjson, and problem+json (RFC 9457) for errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import JSONResponse

from darkroom.api.problems import PROBLEM_CONTENT_TYPE, Problem

__all__ = ["OrjsonResponse", "ProblemResponse", "problem_response"]


class OrjsonResponse(JSONResponse):
    """``application/json`` rendered by orjson (datetimes as RFC 3339, dataclasses as objects)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ProblemResponse(OrjsonResponse):
    media_type = PROBLEM_CONTENT_TYPE


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> ProblemResponse:
    """The response for ``problem``, with its own headers and ``headers``."""
    return ProblemResponse(problem.body(), status_code=problem.status, headers={**problem.headers, **(headers or {})})
