"""Errors of the media package. Messages name the file and what is wrong with it."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = ["FfmpegFailed", "InvalidMedia", "MediaError", "MediaTimeout", "UnsupportedMedia"]


class MediaError(DarkroomError):
    """Base of the media errors."""


class InvalidMedia(MediaError, ValueError):
    """The input is not usable media (empty, truncated, corrupt, absurd dimensions…).

    ``code`` is a stable machine-readable reason (``empty``, ``truncated``, ``no_video``,
    ``decompression_bomb``…) that services put in their verdicts.
    """

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


class UnsupportedMedia(InvalidMedia):
    """Valid media in a format or codec this platform does not handle."""

    def __init__(self, message: str, *, code: str = "unsupported") -> None:
        super().__init__(message, code=code)


class FfmpegFailed(MediaError):
    """ffmpeg exited with an error; ``stderr_tail`` holds its last lines."""

    def __init__(self, message: str, *, returncode: int, stderr_tail: str) -> None:
        super().__init__(f"{message} (ffmpeg exit {returncode}): {stderr_tail[-600:]}")
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class MediaTimeout(MediaError, TimeoutError):
    """A media command ran past its time budget and was killed."""
