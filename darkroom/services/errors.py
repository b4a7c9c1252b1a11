"""Errors of the media services: one base class, each message naming the offending value.

:class:`InvalidRequest` is raised at a service's API, before anything is started. The others are
raised inside functions: :class:`RejectedMedia` and :class:`InvalidRendition` are permanent (the
run fails on the first attempt), :class:`ChunkFailed` is retried (the map redoes that one chunk).
"""

from __future__ import annotations

from collections.abc import Sequence

from darkroom.errors import DarkroomError
from darkroom.runtime.errors import PermanentError

__all__ = ["ChunkFailed", "InvalidRendition", "InvalidRequest", "RejectedMedia", "ServiceError"]


class ServiceError(DarkroomError):
    """Base of the media services' errors."""


class InvalidRequest(ServiceError, ValueError):
    """A service request failed validation. ``field`` and ``value`` name the first offending input;
    ``problems`` lists every one as ``(field, value, why)``."""

    def __init__(self, message: str, *, field: str = "", value: object = None,
                 problems: Sequence[tuple[str, object, str]] = ()) -> None:  # fmt: skip
        super().__init__(message)
        self.field = field
        self.value = value
        self.problems = list(problems)


class RejectedMedia(ServiceError, PermanentError):
    """The inspection rejected the source: later steps cannot help. ``codes`` lists the error issues."""

    def __init__(self, message: str, codes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.codes = list(codes)

    def __reduce__(self) -> tuple[object, ...]:  # crosses the process boundary intact
        return (type(self), (str(self), self.codes))


class InvalidRendition(ServiceError, PermanentError):
    """Validation found error-level discrepancies in an encode; ``codes`` lists them."""

    def __init__(self, message: str, codes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.codes = list(codes)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.codes))


class ChunkFailed(ServiceError):
    """A chunk's encode came out wrong (frames, keyframes, decoding): not permanent, so the queue
    retries that one chunk while the rest of the map goes on."""
