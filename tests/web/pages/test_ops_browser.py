"""The operator pages in a real Chromium: an admin signs in through the form, follows the Operator
link to the queues (real messages in every state), sees a new message counted by the 5 s refresh
without reloading, then the workflows (stored runs), a failed run's steps and the health checks,
with the alert checks' charts (uPlot).
Each page passes axe (no violation of any impact, in the light and the dark scheme), shows no
CSP violation, and is screenshotted at both sizes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

import darkroom.queue as dq
from darkroom.observability import CHECK_NAMES
from darkroom.observability.platform_checks import PLATFORM_CHECK_NAMES
from darkroom.runtime.workflow.store import RunRow, StepRow
from darkroom.social.viewer import Role
from tests.web.pages.a11y import assert_accessible
from tests.web.pages.site import PASSWORD, Site, serve
from tests.web.pages.test_browser import person, shoot
from tests.web.pages.test_ops_pages import fill_queues

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _store_runs(site: Site) -> str:
    """A failed run (a step that failed with its reason after one that took 2.5 s) and a running
    one, as the engine stores them; the failed run's id."""
    now = time.time()
    failed = RunRow(
        id="wf_01failedrun", name="video.streaming", state="failed", inputs={}, priority="standard",
        deadline=now + 3600, created_at=now - 60, updated_at=now - 10, started_at=now - 59, ended_at=now - 10,
        progress=0.4, error="step 'encode' failed: ffmpeg exited with 1 (<b>no encoder</b>)",
        steps={
            "inspect": StepRow("inspect", "task", "succeeded", attempts=1, progress=1.0, worker="w1@host-a",
                               started_at=now - 58.5, ended_at=now - 56.0),
            "encode": StepRow("encode", "map", "failed", items_total=12, items_done=5, attempts=3, progress=0.42,
                              worker="w2@host-b", started_at=now - 55.0, ended_at=now - 10.0,
                              error="ffmpeg exited with 1 (<b>no encoder</b>)"),
            "package": StepRow("package", "task", "skipped"),
        },
    )  # fmt: skip
    running = RunRow(
        id="wf_02runningrun", name="photo.renditions", state="running", inputs={}, priority="interactive",
        deadline=now + 30, created_at=now - 5, updated_at=now - 1, started_at=now - 4.5, progress=0.5,
        steps={"resize": StepRow("resize", "task", "running", attempts=1, progress=0.5, started_at=now - 4.0,
                                 message="AVIF 1080")},
    )  # fmt: skip
    with site.engine.begin() as conn:
        site.deps.workflow_store.create(conn, failed)
        site.deps.workflow_store.create(conn, running)
    return failed.id


def _check(page: Page, where: str) -> None:
    """axe in the light scheme and the dark one."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert_accessible(page, f"{where} ({scheme})")
    page.emulate_media(color_scheme="light")


def test_an_admin_reads_the_queues_workflows_and_health(
    ops_site: Site, rq: dq.RedisQueue, browser: Browser, artefacts: Path
) -> None:
    ops_site.join("olga", role=Role.ADMIN)
    fill_queues(rq)
    failed_id = _store_runs(ops_site)
    with serve(ops_site) as base, person(browser, base) as olga:
        page = olga.page
        page.goto("/login")
        page.get_by_label("Handle or email").fill("olga")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Operator").click()

        expect(page.get_by_role("heading", name="Queues", exact=True)).to_be_visible()
        encode = page.locator("#queue-ops\\.encode")
        expect(encode.locator("td").first).to_have_text("2")  # ready
        expect(encode.locator(".status")).to_contain_text("late")
        _check(page, "queues")
        shoot(olga, artefacts, "ops-queues")

        page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")
        page.evaluate("window.__same_page = true")  # gone if anything reloads the page
        rq.enqueue("ops.encode", b"e", deadline=time.time() + 600)
        # the next refresh shows it (a tick is 5 s; the wait allows for a busy machine)
        expect(encode.locator("td").first).to_have_text("3", timeout=30_000)
        assert page.evaluate("window.__same_page") is True

        page.get_by_role("navigation", name="Operator").get_by_role("link", name="Workflows").click()
        expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
        expect(page.locator("tbody tr")).to_have_count(2)
        _check(page, "workflows")
        shoot(olga, artefacts, "ops-workflows")

        page.get_by_role("link", name="video.streaming").click()
        expect(page).to_have_url(f"{base}/ops/workflows/{failed_id}")
        expect(page.locator(".failure .reason")).to_have_text(
            "step 'encode' failed: ffmpeg exited with 1 (<b>no encoder</b>)"
        )  # markup shown as text
        expect(page.locator("#step-inspect")).to_contain_text("2.5 s")
        expect(page.locator("#step-encode")).to_contain_text("5 / 12 items")
        _check(page, "workflow")
        shoot(olga, artefacts, "ops-workflow")

        page.get_by_role("link", name="Health").click()
        expect(page.get_by_role("heading", name="Health")).to_be_visible()
        expect(page.locator(".check")).to_have_count(7)
        # the alert checks, Redis's and the platform's (counted from their lists: outbox_backlog was the 21st)
        expect(page.locator(".rule-check")).to_have_count(len(CHECK_NAMES) + len(PLATFORM_CHECK_NAMES))
        # the last hour's charts: uPlot drew every one from /ops/health/history
        expect(page.locator("[data-history]")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
        expect(page.locator(".chart canvas")).to_have_count(6)
        _check(page, "health")
        shoot(olga, artefacts, "ops-health")

        # the actions: Pause swapped in place by htmx (no reload), a dead message redriven, and
        # cancelling a run asks first
        page.get_by_role("navigation", name="Operator").get_by_role("link", name="Queues").click()
        page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")
        page.evaluate("window.__same_page = true")
        page.get_by_role("button", name="Pause ops.encode").click()
        expect(page.get_by_role("button", name="Resume ops.encode")).to_be_visible()
        expect(encode.locator("th .sub")).to_contain_text("paused")
        assert page.evaluate("window.__same_page") is True and rq.get_queue("ops.encode").paused
        page.locator("#queue-ops\\.thumbs").get_by_role("link", name="1").click()
        expect(page.get_by_role("heading", name=re.compile("Dead messages"))).to_be_visible()
        expect(page.locator("#ops-dead tbody tr")).to_have_count(1)
        _check(page, "dead messages")
        shoot(olga, artefacts, "ops-dead")
        page.get_by_role("button", name=re.compile("^Redrive ")).first.click()
        expect(page.get_by_text("No dead messages.")).to_be_visible()
        page.goto("/ops/workflows/wf_02runningrun")
        page.get_by_role("button", name="Cancel run").click()
        expect(page.get_by_role("heading", name="Cancel this run?")).to_be_visible()
        _check(page, "cancel")
        shoot(olga, artefacts, "ops-cancel")
        page.get_by_role("link", name="No, keep it running").click()
        expect(page).to_have_url(f"{base}/ops/workflows/wf_02runningrun")

        assert olga.violations() == [] and olga.dialogs == []
