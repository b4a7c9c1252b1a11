"""Errors of the web pages. Each names the offending value."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = ["AssetMissing", "BadToggle", "PagesError", "UnknownAsset"]


class PagesError(DarkroomError):
    """Base of the web pages' errors."""


class AssetMissing(PagesError, FileNotFoundError):
    """A static file the pages link to is not there (the vendored scripts come from ``make setup``)."""


class UnknownAsset(PagesError, LookupError):
    """A static URL names no file, or not the file's current version (HTTP 404)."""


class BadToggle(PagesError, ValueError):
    """A button's form asked for a state that is neither ``true`` nor ``false`` (HTTP 422)."""
