"""Errors of the queue package; its gRPC service maps them to status codes (``queue.statuses``).

``Unauthenticated`` is the API layer's (``darkroom.api.errors``), re-exported: a server's
authentication refuses calls before any queue code runs.
"""

from __future__ import annotations

from darkroom.api.errors import Unauthenticated
from darkroom.errors import DarkroomError

__all__ = [
    "Conflict",
    "InvalidArgument",
    "InvalidCriteria",
    "InvalidMessage",
    "InvalidNamespace",
    "LeaseLost",
    "MessageNotFound",
    "PayloadTooLarge",
    "QueueDamaged",
    "QueueError",
    "QueueNotFound",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedOption",
]


class QueueError(DarkroomError):
    """Base of every queue error. ``field`` names the offending request field, when one does."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class QueueNotFound(QueueError, LookupError):
    """The queue does not exist."""


class MessageNotFound(QueueError, LookupError):
    """No message with that id in that queue (never enqueued, or purged after its retention)."""


class InvalidArgument(QueueError, ValueError):
    """A request value breaks the contract or a configured limit."""


class InvalidMessage(InvalidArgument):
    """A message is malformed (bad id, metadata, deadline, missing exclusivity value…)."""


class InvalidNamespace(InvalidArgument):
    """A key namespace outside ``[A-Za-z0-9_.:-]{1,64}`` (a brace would move the hash tag)."""


class InvalidCriteria(InvalidArgument):
    """A dequeue ``where`` names a metadata key that the queue does not index."""


class UnsupportedOption(InvalidArgument):
    """A ``connect`` option that the URL's transport does not take (``field`` names it)."""


class PayloadTooLarge(InvalidMessage):
    """A payload is larger than the queue's ``max_payload_bytes``."""


class QueueDamaged(QueueError):
    """A queue key that every call relies on (a setting, the fencing counter) is not what the
    queue wrote; the call was refused before it changed anything."""


class Conflict(QueueError):
    """The request contradicts stored state (same id, different content; wrong state)."""


class LeaseLost(QueueError):
    """The lease expired or its message moved on; the call changed nothing."""


class Unavailable(QueueError, ConnectionError):
    """The queue's backend could not be reached."""
