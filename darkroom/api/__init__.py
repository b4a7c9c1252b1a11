"""Darkroom's API toolkit, shared by every edge and importing no domain package: field masks,
error <-> status tables that each service passes in (``grpc_status`` for gRPC, ``problems`` for
HTTP problem+json, sharing ``error_tables``), times on the wire (``timestamps``), API keys
(``auth``), transport checks (``transport``), page cursors (``cursors``), entity tags and
conditional requests (``etags``), rate limits (``ratelimit``), idempotency keys
(``idempotency``) and the home's server secret (``secret``)."""

from __future__ import annotations

from darkroom.api.errors import (
    ApiError,
    CsrfRejected,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidFieldMask,
    InvalidIdempotencyKey,
    InvalidPrecondition,
    InvalidTime,
    MissingUpdateMask,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)

__all__ = [
    "ApiError",
    "CsrfRejected",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
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
