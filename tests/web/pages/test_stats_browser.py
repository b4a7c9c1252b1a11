"""The stats pages in a real Chromium: the author follows "Stats of this post" from the post page
to its chart (uPlot, drawn from the table) and table, a post without events shows the empty state;
an admin follows the operator navigation to the pipeline page and its two charts. The numbers are
the real jobs' over real ingested events. axe in both schemes, no CSP violation, no dialog, and
screenshots at both sizes (``post-stats``, ``settings-stats``, ``post-stats-empty``,
``ops-pipeline``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from darkroom.social.events import Event
from darkroom.social.ids import new_id
from darkroom.social.viewer import Role
from tests.web.pages.site import PASSWORD, Site, serve
from tests.web.pages.stats_site import ingest_and_run, post_events, workflow_events
from tests.web.pages.test_browser import XSS, person, shoot
from tests.web.pages.test_ops_browser import _check

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _log_in(page: Page, handle: str) -> None:
    page.goto("/login")
    page.get_by_label("Handle or email").fill(handle)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name=f"@{handle}")).to_be_visible()


def history(post_id: str, today: dt.date) -> list[Event | dict[str, str]]:
    """Ten days of a post's views, likes and comments, and a week of two workflows' runs."""
    people = [new_id() for _ in range(12)]
    events: list[Event | dict[str, str]] = []
    for i in range(10):
        day = today - dt.timedelta(days=9 - i)
        seen = people[: 3 + (i * 7) % 10]
        events += post_events(post_id, day, views=seen + seen[:i], likes=seen[: i % 4], comments=seen[: i % 3])
    runs = (("streaming.video", "standard", 4000), ("photo.renditions", "interactive", 300))
    for i in range(7):
        day = today - dt.timedelta(days=6 - i)
        for workflow, priority, base in runs:
            steps = [base + 97 * ((i * 5 + k) % 9) for k in range(8)]
            events += workflow_events(day, workflow, priority, steps_ms=steps, lateness_ms=[-base, (i % 3 - 1) * base])
    return events


@pytest.mark.slow  # 20 to 40 s: two people, four pages, axe twice on each
def test_the_author_reads_a_posts_stats_and_an_admin_the_pipeline(
    site: Site, browser: Browser, artefacts: Path
) -> None:
    site.join("ana")
    site.join("olga", role=Role.ADMIN)
    post = site.photo_post("ana", f"{XSS} harbour at dusk #sea")
    quiet = site.photo_post("ana", "nobody saw this one")
    ingest_and_run(site, history(post, dt.datetime.now(dt.UTC).date()))
    with serve(site) as base, person(browser, base) as ana, person(browser, base) as olga:
        page = ana.page
        _log_in(page, "ana")
        page.goto(f"/p/{post}")
        page.get_by_role("link", name="Stats of this post").click()
        expect(page.get_by_role("heading", name="Stats of your post")).to_be_visible()
        expect(page.locator(".stats-what")).to_contain_text(XSS)  # the caption as text
        expect(page.locator("#stats-days tbody tr")).to_have_count(10)
        chart = page.locator("figure[data-chart-table]")
        expect(chart).to_have_attribute("data-drawn", "10")  # uPlot drew the table's ten days
        expect(chart.locator("canvas")).to_have_count(1)
        expect(chart.locator(".u-legend")).to_contain_text("Unique viewers")
        _check(page, "post stats")
        shoot(ana, artefacts, "post-stats")

        page.get_by_role("link", name="Settings").click()
        page.get_by_role("navigation", name="Settings").get_by_role("link", name="Stats").click()
        expect(page.locator("#stats-overview tbody tr")).to_have_count(2)
        expect(page.locator(f"#post-{post}")).to_contain_text(XSS)
        _check(page, "post stats overview")
        shoot(ana, artefacts, "settings-stats")

        page.goto(f"/p/{quiet}/stats")
        expect(page.get_by_role("heading", name="No stats yet")).to_be_visible()
        _check(page, "post stats, empty")
        shoot(ana, artefacts, "post-stats-empty")
        assert ana.violations() == [] and ana.dialogs == []

        page = olga.page
        _log_in(page, "olga")
        page.get_by_role("link", name="Operator").click()
        page.get_by_role("navigation", name="Operator").get_by_role("link", name="Pipeline").click()
        expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()
        expect(page.locator("#pipeline-days tbody tr")).to_have_count(14)
        charts = page.locator("figure[data-chart-table]")
        expect(charts.nth(0)).to_have_attribute("data-drawn", "7")
        expect(charts.nth(1)).to_have_attribute("data-drawn", "7")
        expect(charts.nth(0).locator(".u-legend")).to_contain_text("streaming.video · standard")
        _check(page, "pipeline")
        shoot(olga, artefacts, "ops-pipeline")
        assert olga.violations() == [] and olga.dialogs == []
