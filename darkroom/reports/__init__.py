"""Reports of processed media: ``report.json`` (:func:`build_report`) and a self-contained
``report.html`` (:func:`render_html`) with inline SVG plots. See ``docs/process.md``."""

from __future__ import annotations

from darkroom.reports.build import REPORT_VERSION, RunSummary, StepTiming, build_report
from darkroom.reports.errors import InvalidReportData, ReportError
from darkroom.reports.html import render_html
from darkroom.reports.placeholder import blurhash_png

__all__ = [
    "REPORT_VERSION",
    "InvalidReportData",
    "ReportError",
    "RunSummary",
    "StepTiming",
    "blurhash_png",
    "build_report",
    "render_html",
]
