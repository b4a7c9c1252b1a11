"""Darkroom's API toolkit, shared by every edge and importing no domain package: field masks,
error <-> status tables that each service passes in (``grpc_status``), times on the wire
(``timestamps``), API keys (``auth``) and transport checks (``transport``)."""

from __future__ import annotations

from darkroom.api.errors import (
    ApiError,
    InvalidFieldMask,
    InvalidTime,
    MissingUpdateMask,
    ServiceUnavailable,
    Unauthenticated,
)

__all__ = ["ApiError", "InvalidFieldMask", "InvalidTime", "MissingUpdateMask", "ServiceUnavailable", "Unauthenticated"]
