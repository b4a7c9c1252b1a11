"""The operator health page's alert checks and their last hour: every check of the alert rules
(Redis's and the platform's) is shown with its status, a late message is judged, each view records
at most one point per 10 s slot into the bounded history that ``/ops/health/history`` serves to the
charts, and none of it is shown to anyone but an admin."""

from __future__ import annotations

import time
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

import darkroom.queue as dq
from darkroom.observability.checks import CHECK_NAMES
from darkroom.observability.platform_checks import PLATFORM_CHECK_NAMES
from darkroom.runtime.directory import WorkerDirectory
from tests.web.pages.site import Site
from tests.web.pages.test_ops_pages import admin, log_in, ops  # noqa: F401 (fixtures)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class _Rules(HTMLParser):
    """``{check name: status}`` of every ``li.rule-check``."""

    def __init__(self) -> None:
        super().__init__()
        self.rules: dict[str, str] = {}
        self._id: str | None = None
        self._status = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "li" and "rule-check" in (found.get("class") or "").split():
            self._id = (found.get("id") or "").removeprefix("rule-")
        elif tag == "span" and self._id and "status" in (found.get("class") or "").split():
            self._status = True

    def handle_data(self, data: str) -> None:
        if self._status and self._id:
            self.rules[self._id] = data.strip()
            self._status, self._id = False, None


def _rules(html: str) -> dict[str, str]:
    parsed = _Rules()
    parsed.feed(html)
    return parsed.rules


def test_the_page_shows_every_alert_check_and_a_late_queue(admin: TestClient, rq: dq.RedisQueue) -> None:  # noqa: F811
    rq.create_queue("ops.late")
    rq.enqueue("ops.late", b"x", deadline=time.time() - 700)  # past the critical 600 s
    page = admin.get("/ops/health")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    rules = _rules(page.text)
    assert list(rules) == [*CHECK_NAMES, *PLATFORM_CHECK_NAMES]
    assert rules["queue_lateness"] == "critical" and rules["workers"] == "warn"
    assert "ops.late is 70" in page.text  # the message names the queue and how late
    assert 'id="chart-latency"' in page.text and "vendor/uPlot.esm.js" in page.text
    assert "<script>" not in page.text and "style=" not in page.text  # CSP: no inline script or style


def test_the_page_judges_heartbeat_failures_and_its_requests(admin: TestClient, rq: dq.RedisQueue) -> None:  # noqa: F811
    directory = WorkerDirectory.of(rq)
    for _ in range(10):
        directory.heartbeat_failed("w1")  # a worker losing its leases
    missing = admin.get("/ops/no-such-page")
    assert missing.status_code == 404
    page = admin.get("/ops/health")
    rules = _rules(page.text)
    assert rules["heartbeat_failures"] == "critical" and "of worker w1 failed" in page.text
    assert rules["http_errors"] == "ok" and rules["workflow_failure"] == "ok"  # 404s are not errors
    assert "HTTP requests answered 5xx since the HTTP server started" in page.text


def test_views_fill_a_bounded_history_one_point_per_slot(admin: TestClient, ops_site: Site) -> None:  # noqa: F811
    admin.get("/ops/health")
    admin.get("/ops/health", headers={"HX-Request": "true"})  # the same 10 s slot (or, rarely, the next)
    history = admin.get("/ops/health/history")
    assert history.status_code == 200 and history.headers["cache-control"] == "no-store"
    data = history.json()
    assert 1 <= len(data["t"]) <= 2
    charts = {c["id"]: c for c in data["charts"]}
    assert set(charts) == {"latency", "cpu", "memory", "queues", "lateness", "events"}
    assert all(len(values) == len(data["t"]) for values in charts["memory"]["series"].values())
    assert isinstance(charts["latency"]["series"]["latency"][0], float)


def test_the_history_is_a_missing_page_to_anyone_else(ops_site: Site, ops: TestClient) -> None:  # noqa: F811
    missing = ops.get("/nowhere")
    assert ops.get("/ops/health/history").status_code == missing.status_code == 404
    ops_site.join("ana")
    log_in(ops, "ana")
    assert ops.get("/ops/health/history").status_code == 404
