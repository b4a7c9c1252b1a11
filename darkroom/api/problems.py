"""Errors as HTTP problem details (RFC 9457, ``application/problem+json``), by a table each app
passes in: the HTTP twin of ``grpc_status``, sharing its lookup (``error_tables``).

A problem carries RFC 9457's ``type``, ``title``, ``status``, ``detail`` and ``instance``, plus two
extension members clients can rely on: ``code``, the stable machine-readable name (an error's
``code`` attribute, else its class name in snake case: ``not_found``, ``invalid_cursor``), and
``field``, the offending request field when there is one. ``type`` is
``tag:darkroom,2025:problem:<code>`` (a tag URI: an identifier, not a page to fetch); ``title``
is the status's reason phrase.

How a table picks a status (as ``grpc_status`` picks a code):

==============================================  ==========================================
the nearest class of the error's MRO in         that table's status; :data:`API_HTTP_STATUSES`
``statuses``                                    holds the API layer's own errors
other errors that inherit a builtin             ValueError -> 400, LookupError -> 404,
                                                PermissionError -> 403, ConnectionError -> 503
any other ``DarkroomError``                     500, message kept
anything else                                   500, message replaced by an incident id (the
                                                error is logged whole, server-side)
==============================================  ==========================================
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from darkroom.api.error_tables import BUILTIN_MEANINGS, error_code, nearest
from darkroom.api.errors import (
    CsrfRejected,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidFieldMask,
    InvalidIdempotencyKey,
    InvalidPrecondition,
    InvalidTime,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)
from darkroom.errors import DarkroomError

__all__ = [
    "API_HTTP_STATUSES",
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_TYPE_PREFIX",
    "HttpStatusTable",
    "Problem",
    "problem_for",
    "problem_for_status",
]

_log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "tag:darkroom,2025:problem:"

_BY_BUILTIN: tuple[tuple[type[BaseException], int], ...] = tuple(
    zip(BUILTIN_MEANINGS, (400, 404, 403, 503), strict=True)
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: the body members, and the ``headers`` its response needs (``Retry-After``,
    ``WWW-Authenticate``). ``extensions`` are more body members (``errors`` of a validation)."""

    status: int
    code: str
    detail: str
    field: str | None = None
    instance: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    extensions: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.code

    @property
    def title(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"

    def body(self) -> dict[str, Any]:
        """The JSON object (members that are None are left out)."""
        out: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            out["field"] = self.field
        if self.instance is not None:
            out["instance"] = self.instance
        return {**self.extensions, **out}


@dataclass(frozen=True, slots=True)
class HttpStatusTable:
    """Error class -> HTTP status (the nearest class in an error's MRO wins). Build with :meth:`extend`."""

    statuses: Mapping[type[BaseException], int] = dataclasses.field(default_factory=dict)

    def extend(self, statuses: Mapping[type[BaseException], int]) -> HttpStatusTable:
        """This table with more (or other) entries."""
        for cls, status in statuses.items():
            if not 400 <= status <= 599:
                raise ValueError(f"{cls.__name__} -> {status}: an error's status must be 4xx or 5xx")
        return HttpStatusTable({**self.statuses, **statuses})

    def status(self, exc: BaseException) -> int:
        """The status for ``exc`` (a ``DarkroomError``)."""
        status = nearest(exc, self.statuses, _BY_BUILTIN)
        return 500 if status is None else status


API_HTTP_STATUSES = HttpStatusTable().extend(
    {
        Unauthenticated: 401,
        CsrfRejected: 403,
        InvalidFieldMask: 400,
        InvalidTime: 400,
        InvalidCursor: 400,
        InvalidPrecondition: 400,
        InvalidIdempotencyKey: 400,
        IdempotencyKeyInUse: 409,
        IdempotencyKeyReused: 422,
        RateLimited: 429,
        ServiceUnavailable: 503,
    }
)


def _headers(status: int, exc: BaseException | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    retry = getattr(exc, "retry_after_s", None)
    if isinstance(retry, int | float) and retry >= 0:
        headers["Retry-After"] = str(max(1, int(-(-retry // 1))))
    if status == 401:
        # RFC 9110: a 401 names the scheme that would work
        headers["WWW-Authenticate"] = 'Bearer realm="darkroom"'
    return headers


def problem_for(exc: BaseException, table: HttpStatusTable, *, instance: str | None = None) -> Problem:
    """The problem ``exc`` stands for, by the app's ``table``."""
    if not isinstance(exc, DarkroomError):
        # a bug or an unexpected library error: log it whole, tell the caller nothing internal
        incident = uuid.uuid4().hex[:12]
        _log.error("internal error %s at %s", incident, instance, exc_info=exc)
        return Problem(500, "internal", f"internal error (incident {incident})", instance=instance)
    status = table.status(exc)
    exc_field = getattr(exc, "field", None)
    return Problem(
        status,
        error_code(exc),
        str(exc),
        field=exc_field if isinstance(exc_field, str) else None,
        instance=instance,
        headers=_headers(status, exc),
    )


def problem_for_status(
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    field: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Problem:
    """A problem for a bare status (a framework's 404 or 405): ``code`` defaults to the reason
    phrase in snake case (``method_not_allowed``)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return Problem(
        status,
        code or phrase.lower().replace(" ", "_").replace("-", "_").replace("'", ""),
        detail or phrase,
        field=field,
        instance=instance,
        headers={**_headers(status, None), **(headers or {})},
    )
