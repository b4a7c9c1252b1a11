"""tus 1.0 at /v1/uploads/tus (core, creation, termination, expiration): discovery, an upload in
several PATCHes with HEAD between them, a wrong offset, versions, content types, limits,
termination, expiry (Upload-Expires, 410, the sweep), the method override, and the tuspy client
against a real server."""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from tusclient.client import TusClient

from darkroom.social.expiry import spool_path, sweep_expired
from darkroom.storage.schema import uploads
from darkroom.web.server import HttpServer
from tests.social.media_helpers import jpeg_bytes
from tests.web.media_app import MediaApp, media_app

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PHOTO = jpeg_bytes(120, 80)
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {**TUS, "Content-Type": "application/offset+octet-stream"}


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[MediaApp]:
    yield from media_app(db_engine, redis_client, tmp_path, max_photo_bytes=len(PHOTO), max_video_bytes=1 << 20)


def _metadata(filename: str) -> str:
    return "filename " + base64.b64encode(filename.encode()).decode() + ",filetype aW1hZ2UvanBlZw=="


def _create(app: MediaApp, length: int = len(PHOTO), who: str = "ana", name: str = "tus.jpg") -> str:
    headers = {**TUS, **app.auth(who), "Upload-Length": str(length), "Upload-Metadata": _metadata(name)}
    response = app.client.post("/v1/uploads/tus", headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    return str(response.headers["location"])


def _patch(app: MediaApp, url: str, offset: int, data: bytes, who: str = "ana") -> object:
    return app.client.patch(url, content=data, headers={**CHUNK, **app.auth(who), "Upload-Offset": str(offset)})


def _head(app: MediaApp, url: str, who: str = "ana") -> object:
    return app.client.head(url, headers={**TUS, **app.auth(who)})


@SQLITE
def test_discovery_names_the_version_extensions_and_the_largest_upload(app: MediaApp) -> None:
    response = app.client.options("/v1/uploads/tus")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0" and response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["tus-extension"] == "creation,termination,expiration"
    assert response.headers["tus-max-size"] == str(1 << 20)


def test_an_upload_in_four_chunks_with_head_between_them_then_processing(app: MediaApp) -> None:
    url = _create(app)
    assert url.startswith("/v1/uploads/tus/")
    upload_id = url.rsplit("/", 1)[1]
    cuts = [0, 100, len(PHOTO) // 2, len(PHOTO) - 1, len(PHOTO)]  # the first chunk is less than the sniffed head
    for start, end in itertools.pairwise(cuts):
        head = _head(app, url)
        assert head.status_code == 200 and head.headers["upload-offset"] == str(start)
        assert head.headers["upload-length"] == str(len(PHOTO)) and head.headers["cache-control"] == "no-store"
        response = _patch(app, url, start, PHOTO[start:end])
        assert response.status_code == 204, response.text
        assert response.headers["upload-offset"] == str(end) and response.headers["tus-resumable"] == "1.0.0"
    assert _head(app, url).headers["upload-offset"] == str(len(PHOTO))
    body = app.client.get(f"/v1/uploads/{upload_id}", headers=app.auth("ana")).json()
    assert body["state"] == "processing" and body["kind"] == "photo" and body["filename"] == "tus.jpg"
    assert app.started == [f"wf_{upload_id.lower()}"]
    assert not any(app.deps.spool_dir.iterdir())  # the spool file went to the blob store


@SQLITE
def test_a_wrong_offset_is_409_and_the_upload_resumes_from_head(app: MediaApp) -> None:
    url = _create(app)
    assert _patch(app, url, 0, PHOTO[:600]).status_code == 204
    for wrong in (0, 599, 601):
        response = _patch(app, url, wrong, PHOTO[wrong:])
        assert response.status_code == 409 and response.headers["tus-resumable"] == "1.0.0"
        assert response.json()["code"] == "offset_mismatch" and "stands at offset 600" in response.json()["detail"]
    offset = int(_head(app, url).headers["upload-offset"])
    assert offset == 600
    assert _patch(app, url, offset, PHOTO[offset:]).headers["upload-offset"] == str(len(PHOTO))


@SQLITE
def test_versions_chunk_types_lengths_and_metadata_are_checked(app: MediaApp) -> None:
    url = _create(app)
    ana = app.auth("ana")
    for version in ({}, {"Tus-Resumable": "0.2.2"}):
        response = app.client.patch(url, content=b"x", headers={**ana, **version, "Upload-Offset": "0",
                                                                 "Content-Type": CHUNK["Content-Type"]})  # fmt: skip
        assert response.status_code == 412 and response.headers["tus-version"] == "1.0.0"
    typed = app.client.patch(url, content=PHOTO, headers={**TUS, **ana, "Upload-Offset": "0",
                                                          "Content-Type": "image/jpeg"})  # fmt: skip
    assert typed.status_code == 415 and typed.headers["tus-resumable"] == "1.0.0"
    no_offset = app.client.patch(url, content=PHOTO, headers={**CHUNK, **ana})
    assert no_offset.status_code == 400 and no_offset.json()["field"] == "Upload-Offset"
    too_long = app.client.post("/v1/uploads/tus", headers={**TUS, **ana, "Upload-Length": str((1 << 20) + 1)})
    assert too_long.status_code == 413 and too_long.json()["code"] == "too_large"
    deferred = app.client.post("/v1/uploads/tus", headers={**TUS, **ana, "Upload-Defer-Length": "1"})
    assert deferred.status_code == 400
    garbled = app.client.post("/v1/uploads/tus", headers={**TUS, **ana, "Upload-Length": "10",
                                                          "Upload-Metadata": "filename not*base64"})  # fmt: skip
    assert garbled.status_code == 400 and garbled.json()["field"] == "Upload-Metadata"
    assert _head(app, url).headers["upload-offset"] == "0"


@SQLITE
def test_a_photo_declared_over_the_photo_limit_is_refused_at_its_first_chunk(app: MediaApp) -> None:
    url = _create(app, length=len(PHOTO) + 1)  # under the video limit, so creation takes it
    response = _patch(app, url, 0, PHOTO[:600])
    assert response.status_code == 413 and "'tus.jpg' is over the photo limit" in response.json()["detail"]
    assert not any(app.deps.spool_dir.iterdir())


@SQLITE
def test_termination_and_someone_elses_upload(app: MediaApp) -> None:
    url = _create(app)
    assert _patch(app, url, 0, PHOTO[:700]).status_code == 204
    assert _head(app, url, who="ben").status_code == 404
    assert _patch(app, url, 700, PHOTO[700:], who="ben").status_code == 404
    assert app.client.delete(url, headers={**TUS, **app.auth("ben")}).status_code == 404
    gone = app.client.delete(url, headers={**TUS, **app.auth("ana")})
    assert gone.status_code == 204 and gone.headers["tus-resumable"] == "1.0.0"
    assert _head(app, url).status_code == 404
    assert _patch(app, url, 700, PHOTO[700:]).status_code == 404
    assert not any(app.deps.spool_dir.iterdir())


def _updated_at(app: MediaApp, upload_id: str) -> float:
    with app.deps.engine.connect() as conn:
        return float(conn.execute(sa.select(uploads.c.updated_at).where(uploads.c.id == upload_id)).scalar_one())


@SQLITE
def test_upload_expires_is_on_creation_head_and_each_patch_until_complete(app: MediaApp) -> None:
    lifetime_s = app.deps.upload_limits.resumable_lifetime_s
    created = app.client.post("/v1/uploads/tus", headers={**TUS, **app.auth("ana"), "Upload-Length": str(len(PHOTO))})
    url = created.headers["location"]
    upload_id = url.rsplit("/", 1)[1]
    expected = formatdate(_updated_at(app, upload_id) + lifetime_s, usegmt=True)
    assert created.headers["upload-expires"] == expected and expected.endswith(" GMT")
    assert _head(app, url).headers["upload-expires"] == expected
    part = _patch(app, url, 0, PHOTO[:600])
    moved = formatdate(_updated_at(app, upload_id) + lifetime_s, usegmt=True)  # each chunk moves it on
    assert part.headers["upload-expires"] == moved and _head(app, url).headers["upload-expires"] == moved
    last = _patch(app, url, 600, PHOTO[600:])
    assert last.status_code == 204 and "upload-expires" not in last.headers  # complete: it never expires
    assert "upload-expires" not in _head(app, url).headers


@SQLITE
def test_an_expired_upload_is_410_until_the_sweep_deletes_it_then_404(app: MediaApp) -> None:
    lifetime_s = app.deps.upload_limits.resumable_lifetime_s
    url = _create(app)
    upload_id = url.rsplit("/", 1)[1]
    assert _patch(app, url, 0, PHOTO[:600]).status_code == 204
    with app.deps.engine.begin() as conn:  # the last chunk came a lifetime ago
        conn.execute(
            sa.update(uploads).where(uploads.c.id == upload_id).values(updated_at=uploads.c.updated_at - lifetime_s)
        )
    for response in (_head(app, url), _patch(app, url, 600, PHOTO[600:])):
        assert response.status_code == 410 and response.headers["tus-resumable"] == "1.0.0"
        assert response.headers["content-type"].startswith("application/problem+json")
    problem = _patch(app, url, 600, PHOTO[600:]).json()
    assert problem["code"] == "upload_expired" and f"upload {upload_id} expired" in problem["detail"]
    assert spool_path(app.deps.spool_dir, upload_id).stat().st_size == 600  # refused: nothing written
    with app.deps.engine.begin() as conn:
        swept = sweep_expired(conn, spool_dir=app.deps.spool_dir, lifetime_s=lifetime_s)
    assert (swept.uploads, swept.files) == (1, 1)
    assert not any(app.deps.spool_dir.iterdir())
    assert _head(app, url).status_code == 404 and _patch(app, url, 600, PHOTO[600:]).status_code == 404
    assert app.client.get(f"/v1/uploads/{upload_id}", headers=app.auth("ana")).status_code == 404


@SQLITE
def test_the_method_override_stands_for_patch_and_delete(app: MediaApp) -> None:
    url = _create(app)
    headers = {**CHUNK, **app.auth("ana"), "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"}
    assert app.client.post(url, content=PHOTO, headers=headers).headers["upload-offset"] == str(len(PHOTO))
    other = _create(app)
    override = {**TUS, **app.auth("ana"), "X-HTTP-Method-Override": "DELETE"}
    assert app.client.post(other, headers=override).status_code == 204
    assert _head(app, other).status_code == 404
    assert app.client.post(other, headers={**TUS, **app.auth("ana")}).status_code == 400


@SQLITE
def test_tuspy_uploads_in_four_chunks_over_a_real_server(app: MediaApp, tmp_path: Path) -> None:
    server = HttpServer(app.client.app, "127.0.0.1:0", log_level="warning")
    port = server.bind()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        source = tmp_path / "from-disk.jpg"
        source.write_bytes(PHOTO)
        client = TusClient(f"http://127.0.0.1:{port}/v1/uploads/tus", headers=app.auth("ana"))
        uploader = client.uploader(str(source), chunk_size=200, metadata={"filename": "from-disk.jpg"})
        uploader.upload()
        assert uploader.offset == len(PHOTO)
        upload_id = uploader.url.rsplit("/", 1)[1]
    finally:
        server.stop()
        thread.join(30)
    body = app.client.get(f"/v1/uploads/{upload_id}", headers=app.auth("ana")).json()
    assert body["state"] == "processing" and body["filename"] == "from-disk.jpg" and body["kind"] == "photo"
