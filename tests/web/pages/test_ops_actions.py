"""The operator's actions over HTTP (TestClient, real SQLite and Redis): pausing and resuming a
queue, redriving one dead message and all of a queue's, cancelling a running run (a real engine and
worker) after a confirm step; CSRF on each, htmx and plain answers; and to anyone but an admin
each action is exactly what a missing path answers, with or without a CSRF token."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import darkroom.queue as dq
from tests.runtime import funcs
from tests.runtime.conftest import Platform
from tests.web.pages.site import Site
from tests.web.pages.test_ops_pages import admin, fill_queues, log_in, ops, rows_of

__all__ = ["admin", "ops"]  # fixtures used here

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
HTMX = {"HX-Request": "true"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def csrf_of(client: TestClient) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert found is not None
    return found.group(1)


def dead_ids(rq: dq.RedisQueue, queue: str) -> list[str]:
    return [m.id for m in rq.query(queue, state=dq.State.ERRORED).messages]


def kill(rq: dq.RedisQueue, queue: str, payload: bytes) -> str:
    """A message of ``queue`` run out of its one attempt: dead."""
    mid = rq.enqueue(queue, payload, metadata={"asset": payload.decode()}, max_attempts=1)
    (lease,) = rq.dequeue(queue)
    rq.fail(lease, "<b>no decoder</b>", retry=False)
    return mid


def test_pause_and_resume_a_queue(admin: TestClient, rq: dq.RedisQueue) -> None:
    fill_queues(rq)
    token = csrf_of(admin)
    page = admin.get("/ops/queues")
    assert (
        'action="/ops/queues/ops.encode/pause"' in page.text and 'action="/ops/queues/ops.thumbs/resume"' in page.text
    )
    assert admin.post("/ops/queues/ops.encode/pause").status_code == 403  # no CSRF token
    assert not rq.get_queue("ops.encode").paused

    plain = admin.post("/ops/queues/ops.encode/pause", data={"csrf_token": token})  # without JavaScript
    assert plain.status_code == 303 and plain.headers["location"] == "/ops/queues"
    assert rq.get_queue("ops.encode").paused
    assert rq.dequeue("ops.encode") == []  # a paused queue serves nothing

    swapped = admin.post("/ops/queues/ops.encode/resume", data={"csrf_token": token}, headers=HTMX)
    assert swapped.status_code == 200 and swapped.text.lstrip().startswith('<section id="ops-queues"')
    assert rows_of(swapped.text).rows["queue-ops.encode"][-1] == "Pause"  # the fragment, as it is now
    assert not rq.get_queue("ops.encode").paused and len(rq.dequeue("ops.encode")) == 1

    missing = admin.post("/ops/queues/<nope>/pause", data={"csrf_token": token}, headers=BROWSER)
    assert missing.status_code == 400 and "&lt;nope&gt;" in missing.text and "<nope>" not in missing.text
    assert admin.post("/ops/queues/ops.none/pause", data={"csrf_token": token}).status_code == 404


def test_redrive_one_dead_message_then_all(admin: TestClient, rq: dq.RedisQueue) -> None:
    rq.create_queue("ops.thumbs", exclusivity_key="asset")
    first, second, third = (kill(rq, "ops.thumbs", p) for p in (b"a", b"b", b"c"))
    token = csrf_of(admin)
    assert rows_of(admin.get("/ops/queues").text).links.count("/ops/queues/ops.thumbs/dead") == 1

    page = admin.get("/ops/queues/ops.thumbs/dead")
    rows = rows_of(page.text).rows
    assert list(rows) == [f"dead-{first}", f"dead-{second}", f"dead-{third}"]
    assert rows[f"dead-{first}"][1] == "1 of 1" and rows[f"dead-{first}"][4] == "<b>no decoder</b>"
    assert "&lt;b&gt;no decoder" in page.text and "3 dead messages" in page.text

    one = admin.post(f"/ops/queues/ops.thumbs/dead/{first}/redrive", data={"csrf_token": token})
    assert one.status_code == 303 and one.headers["location"] == "/ops/queues/ops.thumbs/dead"
    assert dead_ids(rq, "ops.thumbs") == [second, third]
    assert rq.get("ops.thumbs", first).state == dq.State.PENDING and rq.get("ops.thumbs", first).attempts == 0
    again = admin.post(f"/ops/queues/ops.thumbs/dead/{first}/redrive", data={"csrf_token": token})
    assert again.status_code == 409 and "only errored messages can be redriven" in again.text

    everything = admin.post("/ops/queues/ops.thumbs/dead/redrive", data={"csrf_token": token}, headers=HTMX)
    assert everything.status_code == 200 and everything.text.lstrip().startswith('<section id="ops-dead"')
    assert "No dead messages." in everything.text and dead_ids(rq, "ops.thumbs") == []
    assert rq.count("ops.thumbs", dq.State.PENDING) == 3


def test_cancel_a_running_run_after_confirming(
    ops_site: Site, admin: TestClient, rq: dq.RedisQueue, tmp_path: Path
) -> None:
    platform = Platform(rq, ops_site.engine, funcs.registry, tmp_path / "scratch")
    gate = tmp_path / "gate"
    try:
        platform.start_engine()
        platform.start_worker()
        held = platform.workflows.start("gated", {"paths": [str(gate)]})
        platform.until(lambda: platform.workflows.get(held.id).steps["wait"].message is not None)
        token = csrf_of(admin)
        page = admin.get(f"/ops/workflows/{held.id}")
        assert f'action="/ops/workflows/{held.id}/cancel"' in page.text

        asked = admin.post(f"/ops/workflows/{held.id}/cancel", data={"csrf_token": token})  # the first click
        assert (
            asked.status_code == 200 and "Cancel this run?" in asked.text and 'name="confirm" value="yes"' in asked.text
        )
        assert platform.workflows.get(held.id).state == "running"  # nothing happened yet

        done = admin.post(f"/ops/workflows/{held.id}/cancel", data={"csrf_token": token, "confirm": "yes"})
        assert done.status_code == 303 and done.headers["location"] == f"/ops/workflows/{held.id}"
        assert platform.wait(held.id).state == "canceled"  # the engine canceled it; the worker was told to stop
        after = admin.get(f"/ops/workflows/{held.id}")
        assert "canceled" in after.text and "/cancel" not in after.text  # nothing left to cancel
        finished = admin.post(f"/ops/workflows/{held.id}/cancel", data={"csrf_token": token, "confirm": "yes"})
        assert finished.status_code == 409 and "canceled already" in finished.text
        assert admin.post("/ops/workflows/wf_x/cancel", data={"csrf_token": token}).status_code == 404
    finally:
        gate.touch()
        platform.stop()


def test_to_anyone_but_an_admin_every_action_is_a_missing_path(
    ops_site: Site, ops: TestClient, rq: dq.RedisQueue
) -> None:
    rq.create_queue("ops.thumbs", exclusivity_key="asset")
    dead = kill(rq, "ops.thumbs", b"a")
    actions = (
        "/ops/queues/ops.thumbs/pause",
        "/ops/queues/ops.thumbs/resume",
        f"/ops/queues/ops.thumbs/dead/{dead}/redrive",
        "/ops/queues/ops.thumbs/dead/redrive",
        "/ops/workflows/wf_x/cancel",
    )

    def ask(path: str, form: dict[str, str], accept: str) -> httpx.Response:
        answer: httpx.Response
        if path.endswith("/dead"):
            answer = ops.get(path, headers={"Accept": accept})
        else:
            answer = ops.post(path, data=form, headers={"Accept": accept})
        return answer

    def same_as_missing(token: str | None) -> None:
        form = {"csrf_token": token, "confirm": "yes"} if token else {}
        for accept in ("*/*", BROWSER["Accept"]):
            for path in (*actions, "/ops/queues/ops.thumbs/dead"):
                answer = ask(path, form, accept)
                missing = ask(path.replace("/ops", "/nowhere", 1), form, accept)
                assert answer.status_code == missing.status_code == 404, (path, token)
                assert answer.headers["content-type"] == missing.headers["content-type"]
                assert answer.text == missing.text.replace("/nowhere", "/ops"), (path, accept)

    same_as_missing(None)  # signed out
    ops_site.join("ana")
    log_in(ops, "ana")
    same_as_missing(None)  # signed in, no CSRF token: still the 404, not the CSRF check's 403
    same_as_missing(csrf_of(ops))
    assert not rq.get_queue("ops.thumbs").paused and dead_ids(rq, "ops.thumbs") == [dead]
