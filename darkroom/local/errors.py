"""Errors of the local tools (``darkroom process``, ``darkroom demo``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from darkroom.errors import DarkroomError

if TYPE_CHECKING:
    from darkroom.local.process import JobResult

__all__ = [
    "AlreadyRunning",
    "AppUnavailable",
    "InvalidOptions",
    "LocalError",
    "NotMedia",
    "PlatformFailed",
    "ProcessFailed",
    "UnknownProfile",
    "UnsafeOutputPath",
    "UnusableOutputFolder",
    "WorkflowUnavailable",
]


class LocalError(DarkroomError):
    """Base of the local tools' errors."""


class InvalidOptions(LocalError, ValueError):
    """Request options the service refuses (the message names the field and value)."""


class NotMedia(LocalError, ValueError):
    """The input is neither a photo nor a video (judged by content); the message names the file
    and what it was found to be. ``code`` is the media layer's code (``unreadable``, ``empty``,
    ``audio_only``…)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class UnknownProfile(LocalError, ValueError):
    """A processing profile that does not exist (names it and the known ones)."""


class UnsafeOutputPath(LocalError, ValueError):
    """An output file name that would be written outside the output folder."""


class UnusableOutputFolder(LocalError, ValueError):
    """An output folder that is a file, or cannot be created or written (names it and why)."""


class WorkflowUnavailable(LocalError, LookupError):
    """The workflow a profile needs is not registered in the app the platform serves."""


class PlatformDown(LocalError, RuntimeError):
    """An engine or worker process of the local platform died while a run was followed."""


class AlreadyRunning(LocalError, RuntimeError):
    """Another process already runs the platform (or the queue service) on this home; the message
    names the home and that process's pid."""


class AppUnavailable(LocalError, ValueError):
    """The app (``--app`` / ``DARKROOM_APP``) cannot be imported; the message names the spec and why."""


class PlatformFailed(LocalError, RuntimeError):
    """``darkroom up`` (or ``darkroom queue serve``, for its redis-server) gave up: a part keeps
    failing at start (the message says which and why)."""


class ProcessFailed(LocalError, RuntimeError):
    """The workflow run did not succeed; the message carries the run's id, state and error."""

    def __init__(self, message: str, run_id: str, state: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.state = state
        self.result: JobResult | None = None  # the JobResult with the failed run's report, when one was written
