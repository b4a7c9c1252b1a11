"""Errors of the observability package."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = ["InvalidKeyPattern", "InvalidLogFormat", "InvalidThreshold", "ObservabilityError", "RedisUnreachable"]


class ObservabilityError(DarkroomError):
    """Base of the observability package's errors."""


class RedisUnreachable(ObservabilityError, ConnectionError):
    """The Redis to sample did not answer (refused, timed out, or refused our password), or what
    answered cannot be read as one (another protocol, a database index it does not have)."""


class InvalidThreshold(ObservabilityError, ValueError):
    """A check's thresholds are out of order or out of range; the message names the value."""


class InvalidKeyPattern(ObservabilityError, ValueError):
    """A key family to count would SCAN beyond Darkroom's own prefixes; the message names it."""


class InvalidLogFormat(ObservabilityError, ValueError):
    """``DARKROOM_LOG_FORMAT`` is not one of the formats; the message names the value."""
