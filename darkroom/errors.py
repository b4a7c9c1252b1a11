"""The root of Darkroom's errors; each package's ``errors.py`` derives from it."""

from __future__ import annotations

__all__ = ["DarkroomError"]


class DarkroomError(Exception):
    """Base of every error Darkroom raises on purpose."""
