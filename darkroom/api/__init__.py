"""Darkroom's API layer: request validation, field masks, and status-code mapping for gRPC and HTTP."""

from __future__ import annotations

from darkroom.api.errors import ApiError, InvalidFieldMask, MissingUpdateMask

__all__ = ["ApiError", "InvalidFieldMask", "MissingUpdateMask"]
