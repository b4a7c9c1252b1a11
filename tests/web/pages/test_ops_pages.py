"""The operator pages over HTTP (TestClient, real SQLite and Redis): to anyone but an admin they are
the app's missing page; to an admin, the queues with real messages in every state (one leased, one
late, one delayed, one dead), real workflow runs (an engine and a worker running the runtime's test
workflows: one failed, one held running) and stored ones paged, and the health checks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

import darkroom.queue as dq
from darkroom.config import Settings
from darkroom.platform.wiring import Wiring
from darkroom.runtime.workflow.store import RunRow, StepRow
from darkroom.social import account_lifecycle
from darkroom.social.viewer import Role
from darkroom.web.main import app_for
from tests.runtime import funcs
from tests.runtime.conftest import Platform
from tests.web.pages.site import PASSWORD, Site

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
OPS_PAGES = (
    "/ops",
    "/ops/queues",
    "/ops/workflows",
    "/ops/workflows?state=failed",
    "/ops/workflows/wf_x",
    "/ops/health",
)


class _Rows(HTMLParser):
    """The text of every cell of each ``<tr id=…>``, and every link's href."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.links: list[str] = []
        self._row: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("id"):
            self._row = str(found["id"])
            self.rows[self._row] = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self.rows[self._row].append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows_of(html: str) -> _Rows:
    parsed = _Rows()
    parsed.feed(html)
    return parsed


@pytest.fixture
def ops(ops_site: Site) -> Iterator[TestClient]:
    with TestClient(ops_site.app, base_url="http://testserver", follow_redirects=False) as test_client:
        yield test_client


def fill_queues(rq: dq.RedisQueue) -> None:
    """Two queues with messages in every state: ``ops.encode`` has one leased, one ready 2 minutes
    past its deadline, one ready in time and one delayed; ``ops.thumbs`` (exclusive, paused) one
    dead and one completed."""
    now = time.time()
    rq.create_queue("ops.encode")
    rq.create_queue("ops.thumbs", exclusivity_key="asset")
    rq.enqueue("ops.encode", b"a", deadline=now - 300)  # the most urgent: leased below
    rq.enqueue("ops.encode", b"b", deadline=now - 120)  # then the oldest ready one, 2 minutes late
    rq.enqueue("ops.encode", b"c", deadline=now + 600)
    rq.enqueue("ops.encode", b"d", deadline=now + 600, delay_s=3600)
    (leased,) = rq.dequeue("ops.encode")  # earliest deadline first
    assert leased.message.payload == b"a"
    for outcome in ("dead", "done"):
        rq.enqueue("ops.thumbs", outcome.encode(), metadata={"asset": outcome}, max_attempts=1)
        (lease,) = rq.dequeue("ops.thumbs")
        if outcome == "dead":
            rq.fail(lease, "no decoder", retry=False)
        else:
            rq.complete(lease)
    rq.pause("ops.thumbs")


def log_in(client: TestClient, handle: str) -> None:
    answer = client.post("/login", data={"login": handle, "password": PASSWORD})
    assert answer.status_code == 303, answer.text


@pytest.fixture
def admin(ops_site: Site, ops: TestClient) -> TestClient:
    """``ops`` signed in as an admin."""
    ops_site.join("olga", role=Role.ADMIN)
    log_in(ops, "olga")
    return ops


def test_to_anyone_but_an_admin_the_ops_pages_are_a_missing_page(ops_site: Site, ops: TestClient) -> None:
    ops_site.join("ana")

    def same_as_missing(path: str) -> None:
        # problem+json to a script, the HTML error page to a browser: the same as a missing path's
        for accept in ("*/*", "text/html,application/xhtml+xml,*/*;q=0.8"):
            answer = ops.get(path, headers={"Accept": accept})
            route = path.partition("?")[0]
            missing = ops.get(route.replace("/ops", "/nowhere", 1), headers={"Accept": accept})
            assert answer.status_code == missing.status_code == 404
            assert answer.headers["content-type"] == missing.headers["content-type"]
            assert answer.headers["vary"] == missing.headers["vary"]
            assert answer.text == missing.text.replace("/nowhere", "/ops"), (path, accept)
            assert "admin" not in answer.text.lower() and "forbidden" not in answer.text.lower()

    for path in OPS_PAGES:  # signed out
        same_as_missing(path)
    log_in(ops, "ana")  # signed in, not an admin
    home = ops.get("/")
    assert 'href="/@ana"' in home.text and "/ops/" not in home.text  # no Operator link either
    for path in OPS_PAGES:
        same_as_missing(path)
        assert ops.get(path, headers={"HX-Request": "true"}).status_code == 404


def test_an_admin_sees_every_page_and_the_operator_link(admin: TestClient) -> None:
    home = admin.get("/")
    assert 'href="/ops/queues" >Operator</a>' in home.text
    assert admin.get("/ops").headers["location"] == "/ops/queues"
    for path in OPS_PAGES[1:-2]:
        page = admin.get(path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store", path
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'href="/ops/queues" aria-current="page">Operator</a>' in page.text
    missing_run = admin.get("/ops/workflows/wf_x")
    assert missing_run.status_code == 404 and "wf_x" in missing_run.text
    assert admin.get("/ops/workflows?state=succeeded").status_code == 400


def test_queues_show_depth_per_state_and_how_late_the_most_urgent_message_is(
    admin: TestClient, rq: dq.RedisQueue
) -> None:
    fill_queues(rq)

    page = admin.get("/ops/queues")
    assert page.status_code == 200
    rows = rows_of(page.text).rows
    # queue, ready, delayed, running, dead, completed, canceled, lateness
    encode = rows["queue-ops.encode"]
    assert encode[0] == "ops.encode simple" and encode[1:7] == ["2", "1", "1", "0", "0", "0"]
    assert encode[7].startswith("2 min ") and encode[7].endswith(" late")
    assert rows["queue-ops.thumbs"] == [
        "ops.thumbs exclusive by asset · paused", "0", "0", "0", "1", "1", "0", "on time", "Resume",
    ]  # fmt: skip
    assert "2 queues, 1 late" in page.text

    fragment = admin.get("/ops/queues", headers={"HX-Request": "true"})  # what the 5 s poll swaps in
    assert fragment.text.lstrip().startswith('<section id="ops-queues"') and "<html" not in fragment.text
    assert 'hx-trigger="ops-refresh"' in fragment.text and "data-refresh" in fragment.text
    assert rows_of(fragment.text).rows == rows


def test_running_and_failed_runs_with_their_steps_timings_and_reasons(
    ops_site: Site, admin: TestClient, rq: dq.RedisQueue, tmp_path: Path
) -> None:
    platform = Platform(rq, ops_site.engine, funcs.registry, tmp_path / "scratch")
    gate = tmp_path / "gate"
    try:
        platform.start_engine()
        platform.start_worker()
        failed = platform.workflows.start("half-failing", {})
        assert platform.wait(failed.id).state == "failed"
        held = platform.workflows.start("gated", {"paths": [str(gate)]})
        # running, and its task's progress report ("waiting for the gate") reached the run
        platform.until(lambda: platform.workflows.get(held.id).steps["wait"].message is not None)

        listing = admin.get("/ops/workflows")
        rows = rows_of(listing.text)
        assert [r for r in rows.rows] == [f"run-{held.id}", f"run-{failed.id}"]  # newest first
        assert rows.rows[f"run-{held.id}"][:2] == [f"gated {held.id}", "running"]
        assert rows.rows[f"run-{failed.id}"][:2] == [f"half-failing {failed.id}", "failed"]
        assert f"/ops/workflows/{failed.id}" in rows.links and f"/ops/workflows/{held.id}" in rows.links
        only_failed = rows_of(admin.get("/ops/workflows?state=failed").text).rows
        assert list(only_failed) == [f"run-{failed.id}"]

        page = admin.get(f"/ops/workflows/{failed.id}")
        steps = rows_of(page.text).rows
        # step, state, attempts, progress, started, took, worker, reason
        assert [(c[0], c[1]) for c in steps.values()] == [
            ("first task", "succeeded"), ("broken task", "failed"), ("after task", "skipped"),
        ]  # fmt: skip
        first, broken = steps["step-first"], steps["step-broken"]
        assert first[4].startswith("+") and first[5].endswith(("ms", " s"))  # started after the run did, took
        assert "this input can never work" in broken[7]
        assert steps["step-after"][4:6] == ["", ""]  # never started
        assert "Why it failed" in page.text and "data-refresh" not in page.text  # a finished run stays put

        running = admin.get(f"/ops/workflows/{held.id}")
        wait = rows_of(running.text).rows["step-wait"]
        assert wait[0] == "wait map · 0 / 1 items" and wait[1] == "running" and wait[5].startswith("running for ")
        assert wait[7] == "waiting for the gate" and "data-refresh" in running.text

        health = admin.get("/ops/health")
        checks = {c[1]: (c[0], c[2]) for c in _checks(health.text)}
        assert checks["Workers"][0] == "ok" and checks["Workers"][1].startswith("1 live on 1 host, serving ")
    finally:
        gate.touch()  # let the held task end before the platform stops
        platform.stop()


def test_runs_are_paged_newest_first_with_a_signed_cursor(ops_site: Site, admin: TestClient) -> None:
    store = ops_site.deps.workflow_store
    with ops_site.engine.begin() as conn:
        for i in range(30):
            at = 1_800_000_000.0 + i // 2  # pairs share a creation time: the cursor holds the id too
            state = ("running", "failed", "succeeded")[i % 3]
            run = RunRow(
                id=f"wf_{i:02d}", name="photo.renditions", state=state, inputs={}, priority="standard",
                deadline=at + 60, created_at=at, updated_at=at, error="disk full" if state == "failed" else None,
                steps={"resize": StepRow("resize", "task", state=state)},
            )  # fmt: skip
            store.create(conn, run)
    shown = [i for i in reversed(range(30)) if i % 3 != 2]  # 20 running or failed, newest first
    first = admin.get("/ops/workflows?state=")
    found = rows_of(first.text)
    assert list(found.rows) == [f"run-wf_{i:02d}" for i in shown]  # 20: one page
    assert "More runs" not in first.text

    failed = rows_of(admin.get("/ops/workflows?state=failed").text)
    assert [r[5] for r in failed.rows.values()] == ["disk full"] * 10

    with ops_site.engine.begin() as conn:
        for i in range(30, 60):
            at = 1_800_000_000.0 + i // 2
            run = RunRow(
                id=f"wf_{i:02d}", name="photo.renditions", state="failed", inputs={}, priority="standard",
                deadline=at + 60, created_at=at, updated_at=at,
            )  # fmt: skip
            store.create(conn, run)
    pages, seen = [admin.get("/ops/workflows")], []
    while True:
        parsed = rows_of(pages[-1].text)
        seen += list(parsed.rows)
        more = [link for link in parsed.links if link.startswith("/ops/workflows?cursor=")]
        if not more:
            break
        pages.append(admin.get(more[0]))
    assert len(pages) == 2 and "More runs" in pages[0].text and "More runs" not in pages[1].text
    assert "data-refresh" in pages[0].text and "data-refresh" not in pages[1].text  # a later page stays put
    assert seen == [f"run-wf_{i:02d}" for i in reversed(range(60)) if i >= 30 or i % 3 != 2]
    assert len(seen) == 50

    forged = admin.get("/ops/workflows?cursor=bm90LWEtY3Vyc29y")
    assert forged.status_code == 400 and "cursor" in forged.text
    other_list = more_link_of(admin.get("/ops/workflows?state=failed").text)
    assert admin.get(other_list.replace("state=failed&", "")).status_code == 400  # bound to its filter


def more_link_of(html: str) -> str:
    (link,) = [link for link in rows_of(html).links if "cursor=" in link]
    return link.replace("&amp;", "&")


class _Checks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.checks: list[list[str]] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "li" and "check" in classes:
            self.checks.append([])
        elif tag == "span" and self.checks and len(self.checks[-1]) < 3:
            self._in = "span"
            self.checks[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in and self.checks:
            self.checks[-1][-1] += data.strip()


def _checks(html: str) -> list[list[str]]:
    parsed = _Checks()
    parsed.feed(html)
    return parsed.checks


def test_health_lists_redis_the_database_and_the_workers(admin: TestClient) -> None:
    page = admin.get("/ops/health")
    assert page.status_code == 200
    checks = {name: (status, detail) for status, name, detail in _checks(page.text)}
    assert list(checks) == [
        "Redis reachable", "Redis memory", "Redis eviction policy", "Redis clients", "Redis persistence",
        "Database reachable", "Workers",
    ]  # fmt: skip
    assert checks["Redis reachable"][0] == "ok" and checks["Redis reachable"][1].startswith("Redis ")
    assert checks["Redis memory"][1].endswith("used, no maxmemory limit") or "of" in checks["Redis memory"][1]
    assert checks["Database reachable"] == ("ok", "sqlite")
    assert checks["Workers"] == ("warn", "no worker announced itself in the last 30 s")  # none runs here
    assert 'Overall: <span class="status warn">warn</span>' in page.text


def test_the_platform_app_reads_the_wirings_queue_in_its_namespace(
    redis_url: str, redis_client: redis.Redis, database_url: str, tmp_path: Path
) -> None:
    """``app_for`` (what ``darkroom http`` and ``darkroom up`` serve) hands the wiring's queue to the
    operator pages: a queue made in the platform's namespace is listed, one in another is not."""
    settings = Settings(home=tmp_path / "home", redis_url=redis_url, namespace="ops-ns", database_url=database_url)
    wiring = Wiring(settings)
    try:
        app = app_for(wiring)
        assert app.state.deps.queue is wiring.queue
        wiring.queue.create_queue("ours")
        dq.RedisQueue(redis_client).create_queue("theirs")  # the default namespace
        with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
            new = account_lifecycle.prepare_account(
                handle="olga", email="olga@example.com", password=PASSWORD, role=Role.ADMIN
            )
            with wiring.db.begin() as conn:
                account_lifecycle.insert_account(conn, new)
            log_in(client, "olga")
            assert list(rows_of(client.get("/ops/queues").text).rows) == ["queue-ours"]
    finally:
        wiring.close()
