"""A post's stats page and the operator's pipeline page over HTTP (TestClient, real SQLite, Redis
and Iceberg): the numbers the real jobs wrote from real ingested events, the same 404 as a missing
post to anyone but the author, the empty states, and escaping."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from fastapi.testclient import TestClient

from darkroom.analytics import catalog_location, open_catalog
from darkroom.analytics.jobs import PIPELINE_SLA, POST_DAILY_STATS
from darkroom.analytics.reads import PIPELINE_SLA_TABLE, POST_DAILY_STATS_TABLE, PostDay, StatsReader
from darkroom.social.events import Event
from darkroom.social.ids import new_id
from darkroom.social.viewer import Role
from darkroom.web.pages.stats_views import MAX_DAYS_SHOWN, NO_VALUE, duration_text, post_stats
from tests.web.pages.site import Site
from tests.web.pages.stats_site import ingest_and_run, post_events, workflow_events
from tests.web.pages.test_ops_pages import log_in, rows_of
from tests.web.pages.test_pages import _parse

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
XSS = "<script>alert(1)</script>"


def assert_strict(html: str) -> None:
    """No inline script, handler or style (the CSP would refuse them), assets from ``/static``."""
    links = _parse(html)
    assert links.scripts_inline == 0 and links.handlers == [] and ' style="' not in html
    assert all(url.startswith("/static/") for url in links.assets)


DAY = dt.date(2026, 3, 10)


def test_the_reads_name_the_jobs_tables() -> None:
    assert (POST_DAILY_STATS_TABLE, PIPELINE_SLA_TABLE) == (POST_DAILY_STATS, PIPELINE_SLA)


def test_days_between_counted_ones_are_zeros_and_at_most_90_are_shown() -> None:
    stats = post_stats([PostDay(DAY, 3, 2, 1, 0), PostDay(DAY + dt.timedelta(days=2), 1, 1, 0, 1)])
    assert [(d.iso, d.impressions) for d in stats.days] == [("2026-03-10", 3), ("2026-03-11", 0), ("2026-03-12", 1)]
    assert (stats.impressions, stats.likes, stats.comments, stats.most_viewers) == (4, 1, 1, 2)
    long = post_stats([PostDay(DAY + dt.timedelta(days=i), 1, 1, 0, 0) for i in range(MAX_DAYS_SHOWN + 1)])
    assert len(long.days) == MAX_DAYS_SHOWN and long.earlier_days == 1 and long.impressions == MAX_DAYS_SHOWN + 1
    assert [duration_text(v) for v in (None, 850, -3100, 90_000)] == [NO_VALUE, "850 ms", "-3.1 s", "1.5 min"]


@ON_SQLITE
def test_the_author_sees_the_days_the_job_counted_and_no_one_else_sees_anything(site: Site, client: TestClient) -> None:
    site.join("ana")
    ben = site.join("ben")
    site.join("olga", role=Role.ADMIN)
    post = site.photo_post("ana", f"{XSS} harbour at dusk")
    log_in(client, "ana")
    empty = client.get(f"/p/{post}/stats")  # no job has run: no table yet
    assert empty.status_code == 200 and "No stats yet" in empty.text and "data-chart-table" not in empty.text

    viewers = [ben.account_id, new_id(), new_id()]
    events = post_events(post, DAY, views=viewers + [ben.account_id], likes=[ben.account_id], comments=[])
    later = DAY + dt.timedelta(days=2)
    events += post_events(post, later, views=[ben.account_id], likes=[], comments=[ben.account_id])
    events += post_events(new_id(), DAY, views=[ben.account_id], likes=[], comments=[])  # another post's
    ingest_and_run(site, events)

    catalog = open_catalog(catalog_location(site.deps.settings))
    pushed_down = StatsReader(catalog, whole_table_rows=0).post_days(post)  # a table too large to keep
    assert pushed_down == site.deps.stats.post_days(post) and len(pushed_down) == 2
    page = client.get(f"/p/{post}/stats")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert page.headers["server-timing"].startswith("stats;dur=")
    assert_strict(page.text)
    assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt; harbour at dusk" in page.text
    rows = rows_of(page.text).rows  # newest first; the day without events a zero
    assert rows == {
        "day-2026-03-12": ["12 Mar 2026", "1", "1", "0", "1"],
        "day-2026-03-11": ["11 Mar 2026", "0", "0", "0", "0"],
        "day-2026-03-10": ["10 Mar 2026", "4", "3", "1", "0"],
    }
    assert 'data-t="1773100800" data-impressions="4" data-unique-viewers="3"' in page.text  # the chart's data
    assert "<dd>5</dd>" in page.text  # impressions in all
    ingest_and_run(site, post_events(post, DAY, views=[], likes=[new_id()], comments=[]))  # the job's next commit
    assert rows_of(client.get(f"/p/{post}/stats").text).rows["day-2026-03-10"][3] == "2"  # seen at once
    assert f'href="/p/{post}/stats"' in client.get(f"/p/{post}").text  # the author's link
    overview = client.get("/settings/stats")  # the latest posts' totals, each linking to its page
    assert overview.status_code == 200 and overview.headers["cache-control"] == "no-store"
    # post (its caption as text), posted, impressions, most viewers in a day, likes, comments
    (cells,) = rows_of(overview.text).rows.values()
    assert cells[0] == f"{XSS} harbour at dusk" and cells[2:] == ["5", "3", "2", "1"]
    assert f'href="/p/{post}/stats"' in overview.text and XSS not in overview.text
    assert_strict(overview.text)

    missing = new_id()
    client.cookies.clear()
    assert client.get("/settings/stats").headers["location"] == "/login"
    log_in(client, "ben")
    assert "You have no posts yet." in client.get("/settings/stats").text
    for who in ("ben", "olga", None):  # another account, an admin, nobody: a missing post's page
        client.cookies.clear()
        if who:
            log_in(client, who)
            assert f"/p/{post}/stats" not in client.get(f"/p/{post}").text
        for accept in ("*/*", "text/html"):
            answer = client.get(f"/p/{post}/stats", headers={"Accept": accept})
            absent = client.get(f"/p/{missing}/stats", headers={"Accept": accept})
            assert answer.status_code == absent.status_code == 404
            assert answer.headers["cache-control"] == absent.headers["cache-control"]
            assert answer.text == absent.text.replace(missing, post), (who, accept)
            assert "4" not in rows_of(answer.text).rows


@ON_SQLITE
def test_an_admin_reads_the_pipeline_per_day_workflow_and_priority(site: Site, client: TestClient) -> None:
    site.join("olga", role=Role.ADMIN)
    site.join("ana")
    log_in(client, "olga")
    empty = client.get("/ops/pipeline")
    assert empty.status_code == 200 and "No pipeline data for these days" in empty.text
    assert 'href="/ops/pipeline" aria-current="page">Pipeline</a>' in empty.text

    today = dt.datetime.now(dt.UTC).date()
    yesterday = today - dt.timedelta(days=1)
    ingest_and_run(site, [
        *workflow_events(yesterday, "streaming.video", "standard", steps_ms=[100, 200, 300, 400],
                         lateness_ms=[-2000, 5000]),
        *workflow_events(today, "streaming.video", "standard", steps_ms=[1500], lateness_ms=[]),
        *workflow_events(today, XSS, "batch", steps_ms=[50], lateness_ms=[90_000]),
        *workflow_events(today - dt.timedelta(days=20), "old", "batch", steps_ms=[1], lateness_ms=[]),
    ])  # fmt: skip

    page = client.get("/ops/pipeline")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert XSS not in page.text and "&lt;script&gt;" in page.text
    assert_strict(page.text)
    cells = list(rows_of(page.text).rows.values())
    label = f"{today.day} {today:%b %Y}"
    # day, workflow and priority, steps, p50, p95, runs, late, lateness p50, p95, max (newest first)
    assert cells == [
        [label, f"{XSS} batch", "1", "50 ms", "50 ms", "1", "1", "1.5 min", "1.5 min", "1.5 min"],
        [label, "streaming.video standard", "1", "1.5 s", "1.5 s", "0", "0", NO_VALUE, NO_VALUE, NO_VALUE],
        [f"{yesterday.day} {yesterday:%b %Y}", "streaming.video standard", "4", "250 ms", "385 ms", "2", "1",
         "1.5 s", "4.7 s", "5.0 s"],
    ]  # fmt: skip
    assert "old" not in page.text.split("<tbody>")[1]  # 20 days ago: not in the last 14
    assert "old" in client.get("/ops/pipeline?days=30").text.split("<tbody>")[1]
    for bad in ("0", "91", "x", "-1"):
        assert client.get(f"/ops/pipeline?days={bad}").status_code == 400

    client.cookies.clear()
    for who in (None, "ana"):  # the ops pages' rule: a missing path's 404
        if who:
            log_in(client, who)
        answer = client.get("/ops/pipeline", headers={"Accept": "text/html"})
        nowhere = client.get("/nowhere/pipeline", headers={"Accept": "text/html"})
        assert answer.status_code == 404 and answer.text == nowhere.text.replace("/nowhere", "/ops")


@ON_SQLITE
def test_a_table_whose_files_are_gone_is_a_503_page_not_a_crash(site: Site, client: TestClient) -> None:
    ben = site.join("ben")
    site.join("olga", role=Role.ADMIN)
    post = site.photo_post("ben", "a quiet one")
    today = dt.datetime.now(dt.UTC).date()
    events: list[Event | dict[str, str]] = [*post_events(post, today, views=[ben.account_id], likes=[], comments=[])]
    ingest_and_run(site, events + workflow_events(today, "streaming.video", "batch", steps_ms=[5], lateness_ms=[]))
    warehouse = site.deps.settings.home / "warehouse" / "darkroom"
    for table in ("post_daily_stats", "pipeline_sla"):
        shutil.rmtree(warehouse / table / "data")  # the metadata still names them
    log_in(client, "ben")
    page = client.get(f"/p/{post}/stats")
    assert page.status_code == 503 and "The stats cannot be read just now" in page.text
    assert "post_daily_stats" not in page.text  # no internals to a person
    client.cookies.clear()
    log_in(client, "olga")
    ops = client.get("/ops/pipeline")
    assert ops.status_code == 503 and "darkroom.pipeline_sla could not be read" in ops.text  # an operator's cause
