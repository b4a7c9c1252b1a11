"""Every error of the HTTP app becomes one problem, here and nowhere else: the social domain's
errors (by their ``code``), the API toolkit's, FastAPI's request validation and Starlette's HTTP
exceptions (an unknown route, a wrong method), and anything unexpected (500, an incident id instead
of internals). It is answered as problem+json, or as the site's error page to a browser asking for
a page outside ``/v1/`` (``responses.problem_answer``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from darkroom.api.problems import API_HTTP_STATUSES, HttpStatusTable, Problem, problem_for, problem_for_status
from darkroom.errors import DarkroomError
from darkroom.social.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    LoginThrottled,
    NotFound,
    OffsetMismatch,
    PreconditionFailed,
    TooLarge,
    Unauthorized,
    UnsupportedMedia,
    UploadExpired,
)
from darkroom.web.responses import problem_answer

__all__ = ["HTTP_STATUSES", "ProblemException", "install_problem_handlers", "validation_problem"]

HTTP_STATUSES: HttpStatusTable = API_HTTP_STATUSES.extend(
    {
        InvalidInput: 400,
        TooLarge: 413,
        UnsupportedMedia: 415,  # an upload's bytes are no photo or video
        NotFound: 404,
        UploadExpired: 410,  # tus expiration: the upload existed and is gone for good
        OffsetMismatch: 409,  # tus: a chunk at another offset than the upload's
        AlreadyExists: 409,
        Unauthorized: 401,
        Forbidden: 403,
        LoginThrottled: 429,
        PreconditionFailed: 412,
    }
)


class ProblemException(StarletteHTTPException):
    """A whole :class:`Problem` as an ``HTTPException``, for the places where only those get
    through to the problem handlers (FastAPI turns anything else raised while it reads a body
    into a bare 400)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.status, problem.detail, headers=dict(problem.headers))
        self.problem = problem


# FastAPI's answer to a body that broke its JSON reader in another way than a syntax error
# (nesting deeper than the recursion limit): its cause says what it was
_UNPARSED_BODY = "There was an error parsing the body"
_JSON_SUFFIXES = ("/json", "+json")

# where FastAPI says a value came from -> how the problem names it
_PLACES = {"query": "query parameter", "path": "path parameter", "header": "header", "cookie": "cookie", "body": "body"}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validation_problem(exc: RequestValidationError, instance: str | None = None) -> Problem:
    """A 400 ``invalid_input`` naming the first offending field and value; ``errors`` lists them all."""
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "json_invalid":
            # loc is ("body", <character position>): the body as a whole is unreadable
            why = error.get("ctx", {}).get("error", "")
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            errors.append({"field": "body", "detail": f"the body is not valid JSON{at}: {why}".rstrip(": ")})
            continue
        place = _PLACES.get(loc[0], "") if loc else ""
        name = ".".join(loc[1:] if place else loc) or "body"
        detail = f"{place or 'field'} {name!r}" if name != "body" else "the body"
        if "input" in error and error.get("type") != "missing":
            detail += f" = {_shown(error['input'])}"
        errors.append({"field": name, "detail": f"{detail}: {error.get('msg', 'invalid')}"})
    first = errors[0] if errors else {"field": "body", "detail": "the request is not valid"}
    return Problem(
        400, "invalid_input", first["detail"], field=first["field"], instance=instance, extensions={"errors": errors}
    )


def content_type_problem(request: Request, exc: RequestValidationError) -> Problem | None:
    """415 naming the ``Content-Type`` when a body that is not JSON reached a route taking JSON
    (FastAPI reads such a body as bytes, and its error would only say the body is no object)."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media.endswith(_JSON_SUFFIXES) or not any(error.get("loc", ())[:1] == ("body",) for error in exc.errors()):
        return None
    if not media and not exc.body:  # nothing sent at all: the 400 says the body is required
        return None
    return Problem(
        415,
        "unsupported_media_type",
        f"the body is {media or 'of no Content-Type'!r}: this route takes application/json",
        field="Content-Type",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI, table: HttpStatusTable = HTTP_STATUSES) -> None:
    """Answer every error of ``app`` with its problem (``responses.problem_answer``), statuses by ``table``."""

    async def darkroom_error(request: Request, exc: Exception) -> Response:
        return problem_answer(request.scope, problem_for(exc, table, instance=request.url.path))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_answer(
            request.scope, content_type_problem(request, exc) or validation_problem(exc, request.url.path)
        )

    async def http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc, ProblemException):
            return problem_answer(request.scope, exc.problem)
        if exc.detail == _UNPARSED_BODY and exc.__cause__ is not None:
            why = f"{type(exc.__cause__).__name__}: {exc.__cause__}"
            problem = Problem(400, "invalid_input", f"the body could not be read as JSON ({why})", field="body")
            return problem_answer(request.scope, dataclasses.replace(problem, instance=request.url.path))
        if exc.status_code < 400:  # a route may raise a 304 or a redirect: no body
            return Response(status_code=exc.status_code, headers=exc.headers)
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        return problem_answer(
            request.scope, problem_for_status(exc.status_code, detail, instance=request.url.path, headers=exc.headers)
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Starlette's outermost middleware calls this, then re-raises for the server to log
        return problem_answer(request.scope, problem_for(exc, table, instance=request.url.path))

    app.add_exception_handler(DarkroomError, darkroom_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_exception)
    app.add_exception_handler(Exception, unexpected)
