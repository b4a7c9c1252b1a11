"""Errors of the report builders."""

from __future__ import annotations

from darkroom.errors import DarkroomError

__all__ = ["InvalidReportData", "ReportError"]


class ReportError(DarkroomError):
    """Base of the report builders' errors."""


class InvalidReportData(ReportError, ValueError):
    """Workflow outputs that do not follow the contract a report is built from (names the value)."""
