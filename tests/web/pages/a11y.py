"""Accessibility checks in the browser tests: axe-core (shipped inside ``axe-playwright-python``,
so nothing is fetched) run on the page as it is, failing on any violation, whatever its impact
(critical, serious, moderate or minor: the pages have none, so a new one is a regression).

axe is evaluated through Playwright (the DevTools protocol), not loaded by the page, so the strict
Content-Security-Policy stays as it is and the page's own CSP checks still see only its own
scripts."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

__all__ = ["BLOCKING", "assert_accessible", "violations"]

BLOCKING = frozenset({"critical", "serious", "moderate", "minor"})
_AXE = Axe()
# WCAG 2.0-2.2 A and AA plus axe's best practices (landmarks, one h1, heading order…)
_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
}


def violations(page: Page) -> list[dict[str, Any]]:
    """Every violation axe finds on ``page`` (each with ``id``, ``impact``, ``help``, ``nodes``)."""
    found: list[dict[str, Any]] = _AXE.run(page, options=_OPTIONS).response["violations"]
    return found


def _line(violation: dict[str, Any]) -> str:
    targets = "; ".join(" ".join(str(t) for t in node["target"]) for node in violation["nodes"])
    return f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}"


def assert_accessible(page: Page, where: str = "") -> None:
    """Fail when axe finds a violation on ``page`` (any impact in :data:`BLOCKING`): one line per
    rule, with its id, impact and the elements (CSS selectors) it fails on."""
    blocking = [v for v in violations(page) if v.get("impact") in BLOCKING]
    if blocking:
        shown = where or page.url
        raise AssertionError(f"{shown}: {len(blocking)} accessibility violations\n" + "\n".join(map(_line, blocking)))
