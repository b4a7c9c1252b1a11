"""POST /v1/uploads (streamed multipart: the size limit at its value and one byte past, mislabelled
files, forms without the file or cut off, credentials and CSRF), GET /v1/uploads/{id} (owner only,
ETag, fields=) and its server-sent events, one photo through the real processing path."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

import darkroom.queue as dq
from darkroom.services import registry
from darkroom.social.posts import advance_processing, create_post
from darkroom.social.uploads import get_upload
from darkroom.storage.blobs import LocalBlobs
from darkroom.storage.schema import uploads, workflows
from darkroom.web.app import create_app
from darkroom.web.auth import csrf_token_for
from darkroom.web.server import HttpServer
from tests.runtime.conftest import Platform
from tests.social.media_helpers import CLIP_NAMED_JPG, CheapStarts, jpeg_bytes
from tests.web.media_app import SECRET, MediaApp, finish_run, media_app, upload_photo

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PHOTO = jpeg_bytes()


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[MediaApp]:
    # the photo limit is exactly the test photo's size
    yield from media_app(db_engine, redis_client, tmp_path, max_photo_bytes=len(PHOTO), max_video_bytes=1 << 20)


def _post(app: MediaApp, data: bytes, name: str = "beach.jpg", who: str = "ana", **headers: str) -> Any:
    files = {"file": (name, data, "image/jpeg")}
    return app.client.post("/v1/uploads", files=files, headers={**app.auth(who), **headers})


def _stored(app: MediaApp) -> tuple[int, list[str], list[Path]]:
    """Upload rows, blobs, and spool files: what an upload leaves behind."""
    with app.engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one()
    spool = app.deps.spool_dir
    return rows, [b.key for b in app.blobs.list()], sorted(spool.iterdir()) if spool.exists() else []


# -- sending -------------------------------------------------------------------------------------
def test_a_photo_at_the_limit_is_accepted_and_one_byte_more_is_refused_without_storing_it(app: MediaApp) -> None:
    response = _post(app, PHOTO)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/uploads/{body['id']}"
    assert body["state"] == "processing" and body["kind"] == "photo" and body["filename"] == "beach.jpg"
    assert body["length_bytes"] == body["received_bytes"] == str(len(PHOTO))  # int64: a JSON string
    assert body["media"]["kind"] == "photo" and body["media"]["width"] == 96 and body["media"]["renditions"] == []
    assert app.started == [f"wf_{body['id'].lower()}"]
    before = _stored(app)

    over = _post(app, PHOTO + b"\0", name="big.jpg")
    assert over.status_code == 413 and over.headers["content-type"] == "application/problem+json"
    problem = over.json()
    assert problem["code"] == "too_large" and "'big.jpg'" in problem["detail"] and str(len(PHOTO)) in problem["detail"]
    assert over.headers["connection"] == "close"  # the rest of the body is never read
    assert _stored(app) == before and app.started == [f"wf_{body['id'].lower()}"]


def test_a_declared_body_over_the_largest_limit_is_refused_before_reading(app: MediaApp) -> None:
    huge = str((2 << 20) + (64 << 10) + 1)  # the video limit (1 MiB here) plus the form's allowance, and more
    response = app.client.post(
        "/v1/uploads", content=b"x", headers={**app.auth("ana"), "Content-Type": "multipart/form-data; boundary=b",
                                             "Content-Length": huge},
    )  # fmt: skip
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert _stored(app)[0] == 0


@SQLITE
def test_a_server_stops_reading_an_oversize_body_at_the_limit(app: MediaApp) -> None:
    """32 MiB sent to a real server whose photo limit is under 1 KiB: it answers 413 (or closes the
    connection while the client still writes) long before the client is done, and stores nothing."""
    total, sent = 32 << 20, [0]

    def body() -> Iterator[bytes]:
        head = b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="huge.jpg"\r\n\r\n' + PHOTO
        sent[0] += len(head)
        yield head
        while sent[0] < total:
            sent[0] += 64 << 10
            yield b"\0" * (64 << 10)

    server = HttpServer(app.client.app, "127.0.0.1:0", log_level="warning")
    port = server.bind()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    headers = {**app.auth("ana"), "Content-Type": "multipart/form-data; boundary=b0undary"}
    try:
        response = httpx.post(f"http://127.0.0.1:{port}/v1/uploads", content=body(), headers=headers, timeout=30)
        assert response.status_code == 413 and response.json()["code"] == "too_large"
    except httpx.TransportError:
        pass  # the server closed the connection while the client was still writing: also a refusal
    finally:
        server.stop()
        thread.join(30)
    assert sent[0] < total // 2  # what the kernel's buffers took, not the whole body
    assert _stored(app) == (0, [], [])


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("photo.png", b"just some text, no picture at all\n" * 4, "not a known image or video format"),
        ("empty.jpg", b"", "the file is empty"),
        ("half.jpg", PHOTO[:30], "the probe"),
    ],
)
@SQLITE
def test_content_that_is_no_photo_is_415_naming_the_file_and_nothing_is_stored(
    app: MediaApp, name: str, data: bytes, why: str
) -> None:
    response = _post(app, data, name=name)
    assert response.status_code == 415, response.text
    problem = response.json()
    assert problem["code"] == "unsupported_media" and f"'{name}'" in problem["detail"] and why in problem["detail"]
    assert _stored(app) == (0, [], [])


@SQLITE
def test_a_clip_named_jpg_is_a_video_by_its_content(app: MediaApp) -> None:
    response = _post(app, CLIP_NAMED_JPG.read_bytes(), name="holiday.jpg")
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "video" and response.json()["filename"] == "holiday.jpg"


@SQLITE
def test_forms_without_the_file_cut_off_or_not_forms_are_refused(app: MediaApp) -> None:
    no_file = app.client.post("/v1/uploads", data={"caption": "x"}, files={"other": ("a.jpg", PHOTO)},
                              headers=app.auth("ana"))  # fmt: skip
    assert no_file.status_code == 400 and no_file.json()["field"] == "file"
    assert "no field 'file'" in no_file.json()["detail"]

    json_body = app.client.post("/v1/uploads", json={"file": "x"}, headers=app.auth("ana"))
    assert json_body.status_code == 415 and "multipart/form-data" in json_body.json()["detail"]

    boundary = "XyZ"
    cut = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.jpg\"\r\n\r\n".encode()
           + PHOTO[:200])  # fmt: skip
    truncated = app.client.post("/v1/uploads", content=cut, headers={
        **app.auth("ana"), "Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    assert truncated.status_code == 400 and "cut off" in truncated.json()["detail"]

    big_field = app.client.post("/v1/uploads", data={"note": "n" * 5000}, files={"file": ("a.jpg", PHOTO)},
                                headers=app.auth("ana"))  # fmt: skip
    assert big_field.status_code == 400 and big_field.json()["field"] == "note"
    assert _stored(app) == (0, [], [])


@SQLITE
def test_who_may_upload_and_the_csrf_token_of_a_browser_form(app: MediaApp) -> None:
    files = {"file": ("a.jpg", PHOTO, "image/jpeg")}
    assert app.client.post("/v1/uploads", files=files).status_code == 401
    read_only = app.client.post("/v1/uploads", files=files, headers=app.auth("ana-read"))
    assert read_only.status_code == 403 and "'write'" in read_only.json()["detail"]
    cookie = {"Cookie": "darkroom_session=ana-session"}
    token = csrf_token_for(SECRET, "ana-session")
    assert app.client.post("/v1/uploads", files=files, headers=cookie).status_code == 403
    wrong = app.client.post("/v1/uploads", data={"csrf_token": "nope"}, files=files, headers=cookie)
    assert wrong.status_code == 403 and wrong.json()["code"] == "csrf_rejected"
    assert _stored(app)[0] == 0
    # the field before the file (a plain HTML form), or the header
    assert app.client.post("/v1/uploads", data={"csrf_token": token}, files=files, headers=cookie).status_code == 202
    assert app.client.post("/v1/uploads", files=files, headers={**cookie, "X-CSRF-Token": token}).status_code == 202


@SQLITE
def test_an_idempotency_key_replays_the_upload_instead_of_storing_it_twice(app: MediaApp) -> None:
    # a retry sends the same bytes: the same boundary
    body = (b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
            + PHOTO + b"\r\n--b0undary--\r\n")  # fmt: skip
    headers = {**app.auth("ana"), "Idempotency-Key": "k1", "Content-Type": "multipart/form-data; boundary=b0undary"}
    first = app.client.post("/v1/uploads", content=body, headers=headers)
    again = app.client.post("/v1/uploads", content=body, headers=headers)
    assert first.status_code == again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert first.json() == again.json() and _stored(app)[0] == 1


@SQLITE
def test_a_server_without_processing_takes_no_uploads(app: MediaApp) -> None:
    with TestClient(create_app(replace(app.deps, starts=None))) as client:
        response = client.post("/v1/uploads", files={"file": ("a.jpg", PHOTO)}, headers=app.auth("ana"))
    assert response.status_code == 503 and "no media processing" in response.json()["detail"]


# -- reading -------------------------------------------------------------------------------------
def test_only_the_owner_reads_an_upload_with_its_etag_and_a_partial_response(app: MediaApp) -> None:
    upload_id = _post(app, PHOTO).json()["id"]
    url = f"/v1/uploads/{upload_id}"
    mine = app.client.get(url, headers=app.auth("ana"))
    assert mine.status_code == 200 and mine.json()["state"] == "processing" and mine.json()["progress"] == 0
    assert mine.headers["cache-control"] == "private, no-cache" and mine.headers["etag"]
    again = app.client.get(url, headers={**app.auth("ana"), "If-None-Match": mine.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    for other in (app.auth("ben"), {}):
        response = app.client.get(url, headers=other)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    partial = app.client.get(url, params={"fields": "state,progress"}, headers=app.auth("ana"))
    assert partial.json() == {"state": "processing", "progress": 0}
    assert partial.headers["etag"] != mine.headers["etag"]
    bad = app.client.get(url, params={"fields": "colour"}, headers=app.auth("ana"))
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_field_mask"


@SQLITE
def test_a_ready_upload_shows_signed_rendition_urls(app: MediaApp) -> None:
    upload_id = upload_photo(app)
    keys = finish_run(app, upload_id, {"w96.jpg": PHOTO})
    body = app.client.get(f"/v1/uploads/{upload_id}", headers=app.auth("ana")).json()
    assert body["state"] == "ready" and body["progress"] == 1
    (rendition,) = body["media"]["renditions"]
    assert rendition["url"].startswith(f"/v1/media/{keys['w96.jpg']}?exp=") and "&sig=" in rendition["url"]
    assert rendition["content_type"] == "image/jpeg" and rendition["role"] == "image"


# -- server-sent events --------------------------------------------------------------------------
def _events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if fields.get("event") == "upload":
            out.append({**orjson.loads(fields["data"]), "event_id": fields["id"]})
    return out


@SQLITE
def test_events_end_with_a_failed_upload_and_a_reconnect_after_the_end_gets_204(app: MediaApp) -> None:
    upload_id = upload_photo(app)
    now = 1.0
    with app.engine.begin() as conn:
        conn.execute(sa.insert(workflows), {
            "id": f"wf_{upload_id.lower()}", "name": "photo.renditions", "state": "failed", "inputs": {},
            "error": "photo rejected [truncated]", "priority": "interactive", "deadline": now, "created_at": now,
            "updated_at": now})  # fmt: skip
        advance_processing(conn)
    response = app.client.get(f"/v1/uploads/{upload_id}/events", headers=app.auth("ana"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store" and "content-encoding" not in response.headers
    (event,) = _events(response.text)
    assert event["state"] == "failed" and event["error"] == "photo rejected [truncated]"
    again = app.client.get(
        f"/v1/uploads/{upload_id}/events", headers={**app.auth("ana"), "Last-Event-ID": event["event_id"]}
    )
    assert again.status_code == 204
    assert app.client.get(f"/v1/uploads/{upload_id}/events", headers=app.auth("ben")).status_code == 404


@SQLITE
def test_a_client_that_leaves_ends_its_event_stream(app: MediaApp, caplog: pytest.LogCaptureFixture) -> None:
    upload_id = upload_photo(app)  # nothing processes it: its stream would run until max_s
    caplog.set_level(logging.DEBUG, logger="darkroom.web.api.uploads")
    server = HttpServer(app.client.app, "127.0.0.1:0", log_level="warning")
    port = server.bind()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/v1/uploads/{upload_id}/events"
        with httpx.stream("GET", url, headers=app.auth("ana"), timeout=30) as response:
            first = next(line for line in response.iter_lines() if line.startswith("data: "))
            assert orjson.loads(first.removeprefix("data: "))["state"] == "processing"
        give_up = time.monotonic() + 30
        while not any("stream ended (the client left)" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < give_up, "the server never noticed the client leave"
            time.sleep(0.01)
    finally:
        server.stop()
        thread.join(30)


@pytest.fixture
def platform(rq: dq.RedisQueue, db_engine: sa.Engine, tmp_path: Path) -> Iterator[Platform]:
    p = Platform(rq, db_engine, registry, tmp_path / "scratch")
    p.start_engine()
    p.start_worker(blobs=LocalBlobs(tmp_path / "blobs"), concurrency=1)
    yield p
    p.stop()


@pytest.fixture
def processing_app(platform: Platform, redis_client: redis.Redis, tmp_path: Path) -> Iterator[MediaApp]:
    starts = CheapStarts(platform.workflows)
    yield from media_app(platform.db, redis_client, tmp_path, starts=starts, blobs=LocalBlobs(tmp_path / "blobs"))


@SQLITE
def test_a_photo_streams_its_progress_through_real_processing_to_ready(
    platform: Platform, processing_app: MediaApp
) -> None:
    app = processing_app
    upload_id = _post(app, jpeg_bytes(64, 48)).json()["id"]

    def settle() -> bool:  # the processing loop, as `darkroom up` runs it
        with platform.db.begin() as conn:
            advance_processing(conn)
            return get_upload(conn, app.people["ana"], upload_id).upload.state.value != "processing"

    loop = threading.Thread(target=platform.until, args=(settle, 90.0), daemon=True)
    loop.start()
    response = app.client.get(f"/v1/uploads/{upload_id}/events", headers=app.auth("ana"))
    loop.join(90)
    events = _events(response.text)
    assert events and events[-1]["state"] == "ready", response.text
    assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)
    assert all(e["state"] == "processing" for e in events[:-1])
    renditions = events[-1]["media"]["renditions"]
    assert {r["content_type"] for r in renditions} >= {"image/jpeg", "image/webp"}
    # a ready upload's rendition: by its signed URL only, until a post of a public account shows it
    signed = renditions[0]["url"]
    fetched = app.client.get(signed)
    assert fetched.status_code == 200 and fetched.headers["cache-control"].startswith("private, max-age=")
    assert app.client.get(signed.split("?")[0]).status_code == 404
    with app.engine.begin() as conn:  # the post route is not this module's: the domain makes it
        assert create_post(conn, app.people["ana"], caption="", upload_ids=[upload_id]).state.value == "ready"
    public = app.client.get(signed.split("?")[0])
    assert public.status_code == 200 and public.content == fetched.content
    assert public.headers["cache-control"] == "public, max-age=31536000, immutable"
