"""The compose page: over HTTP (signed in only, strict CSP, no inline script, nothing reflected)
and in a real Chromium, composing posts through the API as the page's script does.

The test app records the workflow starts instead of running the media pipeline, so the tests write
each run's state as the runtime would (running at 42 %, running its encode step beside its audio,
failed with a reason, succeeded with a real JPEG rendition) and the processing loop settles it:
what the page shows live is what the server's upload events and post report ("encoding 30 %").
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Request, Route, expect

from darkroom.social.posts import MAX_MEDIA, advance_processing
from darkroom.storage.schema import assets, steps, uploads, workflows
from darkroom.storage.schema import posts as posts_table
from darkroom.web.app import create_app
from darkroom.web.main import DatabaseAuthenticator
from tests.social.media_helpers import CLIP_NAMED_JPG
from tests.web.media_app import RecordedStarts, receive_photo, record_renditions
from tests.web.pages.a11y import assert_accessible
from tests.web.pages.site import Site, photo_jpeg, serve
from tests.web.pages.test_browser import XSS, person, shoot, sign_up
from tests.web.pages.test_pages import _parse, _sign_up
from tests.web.real_app import SECRET, web_deps

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
XSS_NAME = '<img src=x onerror="alert(2)">.jpg'


@pytest.fixture
def uploading(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Site]:
    """The site taking uploads: workflow starts are recorded, not run."""
    deps = web_deps(
        db_engine, redis_client, tmp_path, authenticator=DatabaseAuthenticator(db_engine), secret=SECRET,
        starts=lambda: RecordedStarts([]),
    )  # fmt: skip
    yield Site(create_app(deps), deps)


def _run(
    site: Site,
    upload_id: str,
    state: str,
    *,
    progress: float = 0.0,
    error: str | None = None,
    running: Sequence[str] = (),
) -> None:
    """The upload's workflow run as the runtime writes it (``running`` at ``progress``, or ended;
    the steps named in ``running`` running, started in that order), then one round of the
    processing loop."""
    now = time.time()
    run_id = f"wf_{upload_id.lower()}"
    with site.engine.begin() as conn:
        conn.execute(sa.delete(steps).where(steps.c.workflow_id == run_id))
        conn.execute(sa.delete(workflows).where(workflows.c.id == run_id))
        conn.execute(
            sa.insert(workflows),
            {"id": run_id, "name": "photo.renditions", "state": state, "inputs": {}, "outputs": {}, "error": error,
             "priority": "interactive", "deadline": now + 60, "progress": progress, "created_at": now,
             "updated_at": now},
        )  # fmt: skip
        if running:
            conn.execute(
                sa.insert(steps),
                [{"workflow_id": run_id, "name": name, "kind": "task", "state": "running", "items_done": 0,
                  "attempts": 1, "progress": progress, "started_at": now - len(running) + i}
                 for i, name in enumerate(running)],
            )  # fmt: skip
        advance_processing(conn)


def _uploads(site: Site) -> dict[str, str]:
    """Upload ids by kind (photo, video), the latest of each."""
    with site.engine.begin() as conn:
        rows = conn.execute(sa.select(uploads.c.kind, uploads.c.id).order_by(uploads.c.created_at)).all()
    return {str(kind): upload_id for kind, upload_id in rows}


def _post_states(site: Site) -> list[tuple[str, bool]]:
    with site.engine.begin() as conn:
        rows = conn.execute(sa.select(posts_table.c.state, posts_table.c.deleted_at).order_by(posts_table.c.id))
        return [(str(state), deleted is not None) for state, deleted in rows]


def test_compose_needs_a_session_and_is_a_strict_page(client: TestClient, site: Site) -> None:
    signed_out = client.get("/compose")
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"
    _sign_up(client, "ana")
    page = client.get("/compose", params={"caption": XSS})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "blob:" in csp  # previews: object URLs
    links = _parse(page.text)
    assert links.scripts_inline == 0 and links.handlers == [] and ' style="' not in page.text
    names = [url.rsplit("/", 1)[1] for url in links.assets]
    assert names == ["app.css", "htmx.min.js", "app.js", "compose.css", "tus.min.js", "compose.js"]
    assert XSS not in page.text and "&lt;script&gt;" not in page.text  # nothing of the request is shown
    assert 'data-max-files="10"' in page.text and 'data-max="2200"' in page.text
    assert '<a href="/compose" aria-current="page">New post</a>' in page.text
    assert '<a href="/compose"' in client.get("/").text  # in the navigation of every signed-in page


def test_an_upload_says_which_step_its_workflow_runs(client: TestClient, site: Site) -> None:
    _sign_up(client, "ana")
    upload_id = receive_photo(site.deps, site.viewer("ana"), photo_jpeg(300, 200))
    assert client.get(f"/v1/uploads/{upload_id}").json()["step"] == ""  # no run yet
    _run(site, upload_id, "running", progress=0.5, running=("render",))
    body = client.get(f"/v1/uploads/{upload_id}").json()
    assert (body["state"], body["progress"], body["step"]) == ("processing", 0.5, "making sizes")
    with client.stream("GET", f"/v1/uploads/{upload_id}/events") as events:
        lines = events.iter_lines()
        data = next(line for line in lines if line.startswith("data: "))
    assert '"step":"making sizes"' in data
    _run(site, upload_id, "running", progress=0.5, running=("audio",))  # a step without a label
    assert client.get(f"/v1/uploads/{upload_id}").json()["step"] == ""
    _run(site, upload_id, "failed", error="broken", running=("render",))  # a step left running: settled anyway
    body = client.get(f"/v1/uploads/{upload_id}").json()
    assert (body["state"], body["step"]) == ("failed", "")


def test_compose_uploads_with_progress_follows_processing_and_retries(
    uploading: Site, browser: Browser, artefacts: Path
) -> None:
    site = uploading
    photo = photo_jpeg(600, 400)
    with serve(site) as base, person(browser, base) as ana:
        page = ana.page
        sign_up(ana, "ana")
        page.get_by_role("link", name="New post").click()
        expect(page.get_by_role("heading", name="New post")).to_be_visible()
        assert_accessible(page)
        shoot(ana, artefacts, "compose-empty")

        # a photo by multipart, a clip by tus; the file name and caption are markup, shown as text
        page.get_by_label("Photos and videos").set_input_files([
            {"name": XSS_NAME, "mimeType": "image/jpeg", "buffer": photo},
            {"name": "clip.mp4", "mimeType": "video/mp4", "buffer": CLIP_NAMED_JPG.read_bytes()},
        ])  # fmt: skip
        items = page.locator("#picked li")
        expect(items).to_have_count(2)
        preview = items.first.locator("img")
        page.wait_for_function("img => img.complete && img.naturalWidth === 600", arg=preview.element_handle())
        expect(items.first.locator(".name")).to_have_text(XSS_NAME)
        caption = f"{XSS} first light \U0001f305"  # the sunrise counts once, as the server counts
        page.get_by_label("Caption").fill(caption)
        expect(page.locator("#caption-count")).to_have_text(f"{len(caption)} / 2,200")
        assert_accessible(page)
        shoot(ana, artefacts, "compose-picked")

        page.get_by_role("button", name="Share").click()
        expect(items.locator(".pct")).to_have_text(["100 %", "100 %"])
        status = page.locator("#status")
        expect(status.locator("#status-text")).to_have_text("Processing your post…")
        lines = status.locator("#status-files li")
        expect(lines).to_have_text([f"{XSS_NAME}: processing 0 %", "clip.mp4: processing 0 %"])
        ids = _uploads(site)
        _run(site, ids["photo"], "running", progress=0.42)
        expect(lines.first).to_have_text(f"{XSS_NAME}: processing 42 %")
        assert_accessible(page)
        shoot(ana, artefacts, "compose-processing")

        # the clip's run encodes, its audio started later beside it: the step with a label is shown
        _run(site, ids["video"], "running", progress=0.3, running=("encode", "audio"))
        expect(lines.last).to_have_text("clip.mp4: encoding 30 %")
        _run(site, ids["video"], "running", progress=0.8, running=("quality",))
        expect(lines.last).to_have_text("clip.mp4: checking quality 80 %")
        assert_accessible(page)
        shoot(ana, artefacts, "compose-steps")

        _run(site, ids["video"], "failed", error="no video stream could be decoded")
        reason = "media 2 (clip.mp4) could not be processed: no video stream could be decoded"
        expect(status.locator("#status-error")).to_have_text(reason)
        expect(lines.last).to_have_text("clip.mp4: failed: no video stream could be decoded")
        assert_accessible(page)
        shoot(ana, artefacts, "compose-failed")

        # the author's retry: the failed post goes, both files are sent again as a new post
        page.get_by_role("button", name="Try again").click()
        expect(lines).to_have_text([f"{XSS_NAME}: processing 0 %", "clip.mp4: processing 0 %"])
        assert _post_states(site) == [("failed", True), ("processing", False)]
        retried = _uploads(site)
        assert retried["photo"] != ids["photo"] and retried["video"] != ids["video"]

        # a photo alone, to ready: its rendition recorded as the loop would
        page.goto("/compose")
        dawn = {"name": "dawn.jpg", "mimeType": "image/jpeg", "buffer": photo}
        page.get_by_label("Photos and videos").set_input_files([dawn])
        page.get_by_role("button", name="Share").click()
        expect(lines).to_have_text(["dawn.jpg: processing 0 %"])
        record_renditions(site.deps, _uploads(site)["photo"], {"w600.jpg": photo}, size=(600, 400))
        expect(status.locator("#status-text")).to_have_text("Ready: your post is in your feed.")
        expect(lines).to_have_text(["dawn.jpg: ready"])
        expect(page.get_by_role("link", name="See it in your feed")).to_be_visible()
        assert_accessible(page)
        shoot(ana, artefacts, "compose-ready")
        assert ana.violations() == [] and ana.dialogs == []


def test_a_dropped_tus_upload_resumes_from_the_servers_offset(
    uploading: Site, browser: Browser, artefacts: Path
) -> None:
    """The clip's only PATCH is cut mid-way: the server gets its first half (the test forwards that
    much, as a connection dropping after it would), the browser a reset connection. tus-js-client
    asks the server where it stopped (HEAD) and sends the rest from there: the server holds the file
    once, byte for byte."""
    site = uploading
    clip = CLIP_NAMED_JPG.read_bytes()
    half = len(clip) // 2
    seen: list[tuple[str, str | None]] = []  # what the browser sent to tus: method, Upload-Offset
    cut: list[int] = []

    def drop_the_first_patch(route: Route, request: Request) -> None:
        if request.method != "PATCH" or cut:
            route.continue_()
            return
        body = request.post_data_buffer
        assert body == clip  # one chunk (32 MiB chunks) holds the whole clip
        answer = route.fetch(post_data=body[:half])  # what reached the server before the drop
        assert answer.status == 204, answer.text()
        cut.append(int(answer.headers["upload-offset"]))
        route.abort("connectionreset")

    with serve(site) as base, person(browser, base) as ana:
        page = ana.page
        sign_up(ana, "ana")
        page.goto("/compose")

        def record(request: Request) -> None:
            if "/v1/uploads/tus" in request.url:
                seen.append((request.method, request.headers.get("upload-offset")))

        page.on("request", record)
        page.route("**/v1/uploads/tus/*", drop_the_first_patch)
        page.get_by_label("Photos and videos").set_input_files(
            [{"name": "clip.mp4", "mimeType": "video/mp4", "buffer": clip}]
        )
        page.get_by_role("button", name="Share").click()
        expect(page.locator("#picked li .pct")).to_have_text(["100 %"])
        expect(page.locator("#status-files li")).to_have_text(["clip.mp4: processing 0 %"])
        shoot(ana, artefacts, "compose-resumed")
        assert ana.violations() == [] and ana.dialogs == []

    assert cut == [half]  # the server had taken the first half when the connection went
    # created, the PATCH cut, then the offset asked and the rest sent from it
    assert seen[:4] == [("POST", None), ("PATCH", "0"), ("HEAD", None), ("PATCH", str(half))], seen
    with site.engine.begin() as conn:
        rows = conn.execute(sa.select(uploads.c.state, uploads.c.length_bytes, uploads.c.received_bytes,
                                      uploads.c.asset_id)).all()  # fmt: skip
        assert [(r.state, r.length_bytes, r.received_bytes) for r in rows] == [("processing", len(clip), len(clip))]
        asset = conn.execute(sa.select(assets.c.source_key, assets.c.sha256, assets.c.size_bytes)).one()
    digest = hashlib.sha256(clip).hexdigest()
    assert (asset.sha256, asset.size_bytes) == (digest, len(clip))
    assert hashlib.sha256(site.deps.blobs.get_bytes(asset.source_key)).hexdigest() == digest


def test_compose_takes_ten_files_and_names_the_one_past_the_limit(
    uploading: Site, browser: Browser, artefacts: Path
) -> None:
    """The picker at its maximum (posts.MAX_MEDIA): ten files kept, the eleventh left out by name,
    and a file that is not a photo or a video in the middle refused without losing the others."""
    site = uploading
    photo = photo_jpeg(60, 40)
    files = [{"name": f"p{i:02d}.jpg", "mimeType": "image/jpeg", "buffer": photo} for i in range(11)]
    files.insert(5, {"name": "<b>notes</b>.txt", "mimeType": "text/plain", "buffer": b"not media"})
    with serve(site) as base, person(browser, base) as ana:
        page = ana.page
        sign_up(ana, "ana")
        page.goto("/compose")
        page.get_by_label("Photos and videos").set_input_files(files)
        items = page.locator("#picked li")
        expect(items).to_have_count(MAX_MEDIA)
        expect(items.last.locator(".name")).to_have_text("p09.jpg")
        expect(page.locator("#compose-error")).to_have_text(
            f"A post holds at most {MAX_MEDIA} photos and videos: p10.jpg was left out."
        )
        assert_accessible(page)
        shoot(ana, artefacts, "compose-at-the-limit")
