"""Errors of the API layer: field masks, transport and authentication, and the statuses a client
receives without a Darkroom error type. ``grpc_status`` (and later the HTTP app) map them."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = [
    "AddressUnavailable",
    "ApiError",
    "InsecureTransport",
    "InvalidFieldMask",
    "InvalidTime",
    "MissingUpdateMask",
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
