"""Errors of the API layer: field masks, transport and authentication, cursors, preconditions, rate
limits and idempotency keys, and the statuses a client receives without a Darkroom error type.
``grpc_status`` and ``problems`` (HTTP) map them, each in one table."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = [
    "AddressUnavailable",
    "ApiError",
    "CsrfRejected",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InsecureTransport",
    "InvalidCursor",
    "InvalidFieldMask",
    "InvalidIdempotencyKey",
    "InvalidPrecondition",
    "InvalidTime",
    "MissingUpdateMask",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthenticated",
]


class ApiError(DarkroomError):
    """Base of the API layer's errors. ``field`` names the offending request field, when one does."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidFieldMask(ApiError, ValueError):
    """A read or update mask names an unknown path, or a path the call does not allow."""


class MissingUpdateMask(InvalidFieldMask):
    """An update came without a mask; Darkroom never guesses which fields should change."""


class InvalidTime(ApiError, ValueError):
    """A ``Timestamp`` or ``Duration`` on the wire is out of its range (the message names it)."""


class Unauthenticated(ApiError, PermissionError):
    """The server refused the request's credentials (a missing, malformed or unknown API key)."""


class ServiceUnavailable(ApiError, ConnectionError):
    """A server could not be reached, or did not answer in time (a status without a Darkroom error)."""


class InsecureTransport(ApiError, PermissionError):
    """A client would send its API key in plaintext to a host that is not this machine (the message
    names the target); use TLS (``grpcs://``) or ask for it with ``insecure=True``."""


class AddressUnavailable(ApiError, OSError):
    """A server cannot listen on its address: in use by another process, or not a valid
    ``host:port`` (the message names the address)."""


class InvalidCursor(ApiError, ValueError):
    """A page cursor that is not one this server issued for this list: garbled, truncated, forged
    (its signature does not match) or of another version or list. The message names it."""


class InvalidPrecondition(ApiError, ValueError):
    """An ``If-Match`` or ``If-None-Match`` header that is not a list of entity tags or ``*``."""


class CsrfRejected(ApiError, PermissionError):
    """A state-changing request authenticated by the session cookie came without the session's
    CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field), or with another one."""


class RateLimited(ApiError):
    """Too many requests for one subject (an account or an address); ``retry_after_s`` says when
    the next one will be admitted."""

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class InvalidIdempotencyKey(ApiError, ValueError):
    """An ``Idempotency-Key`` header that is empty, too long or not printable ASCII."""


class IdempotencyKeyInUse(ApiError):
    """A request with this ``Idempotency-Key`` is still running: retry when it has finished."""


class IdempotencyKeyReused(ApiError, ValueError):
    """This ``Idempotency-Key`` was used for another request (another body, method or path)."""
