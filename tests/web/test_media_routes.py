"""GET /v1/media/{key}: who may fetch a rendition unsigned (ready posts of public accounts, avatars;
one query), signed URLs (valid, tampered, expired, for another key), caching headers, ETag, Range
requests (first bytes, suffix, open-ended, past the end, several, a stale If-Range) and no gzip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from darkroom.social.posts import create_post, delete_post, purge_deleted
from darkroom.storage.schema import accounts, assets, media_keys, post_media
from darkroom.web.media_urls import SignedMediaUrls, media_path
from tests.social.media_helpers import jpeg_bytes
from tests.web.media_app import SECRET, MediaApp, finish_run, media_app, upload_photo

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# big enough for gzip to want it (over 1 KB), and not an image type it skips on its own
PLAYLIST = b"#EXTM3U\n" + b"".join(b"#EXTINF:2.0,\nsegment%04d.m4s\n" % i for i in range(200))
PHOTO = jpeg_bytes(200, 150)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[MediaApp]:
    yield from media_app(db_engine, redis_client, tmp_path)


def _ready_media(app: MediaApp, who: str, *, in_post: bool = True) -> dict[str, str]:
    """A ready upload of ``who`` (in a ready post unless ``in_post`` is False): its keys by file name."""
    upload_id = upload_photo(app, who)
    keys = finish_run(app, upload_id, {"w200.jpg": PHOTO, "list.m3u8": PLAYLIST})
    if in_post:
        with app.engine.begin() as conn:
            assert create_post(conn, app.people[who], caption="", upload_ids=[upload_id]).state.value == "ready"
    keys["upload_id"] = upload_id
    return keys


def _signed(app: MediaApp, key: str) -> str:
    return app.deps.media_urls.url(key, private=True)


def test_public_media_is_served_unsigned_for_a_year_with_one_query(app: MediaApp) -> None:
    keys = _ready_media(app, "ana")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(app.engine, "before_cursor_execute", count)
    try:
        response = app.client.get(media_path(keys["w200.jpg"]), headers={"Accept-Encoding": "gzip"})
    finally:
        sa.event.remove(app.engine, "before_cursor_execute", count)
    assert response.status_code == 200 and response.content == PHOTO
    queries = [s for s in statements if not s.startswith("BEGIN")]  # SQLite's engine begins IMMEDIATE
    assert len(queries) == 1, queries  # is_public: one statement
    headers = response.headers
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-type"] == "image/jpeg" and headers["x-content-type-options"] == "nosniff"
    assert headers["accept-ranges"] == "bytes" and headers["content-length"] == str(len(PHOTO))
    assert "content-encoding" not in headers and "set-cookie" not in headers
    again = app.client.get(media_path(keys["w200.jpg"]), headers={"If-None-Match": headers["etag"]})
    assert again.status_code == 304 and again.headers["cache-control"] == headers["cache-control"]
    text = app.client.get(media_path(keys["list.m3u8"]), headers={"Accept-Encoding": "gzip"})
    assert text.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "content-encoding" not in text.headers and text.content == PLAYLIST  # media is never compressed


def test_what_nobody_may_see_unsigned_answers_like_a_missing_file(app: MediaApp) -> None:
    private = _ready_media(app, "dee")  # a private account's post
    unposted = _ready_media(app, "ben", in_post=False)  # ready, in no post yet
    deleted = _ready_media(app, "ana")
    with app.engine.begin() as conn:
        delete_post(conn, app.people["ana"], _post_of(conn, deleted["upload_id"]))
        source = conn.execute(sa.select(assets.c.source_key).where(assets.c.id == unposted["upload_id"])).scalar_one()
    assert app.blobs.exists(source)  # the original is stored, and never served
    missing = app.client.get(media_path("cas/sha256/ab/" + "ab" * 32 + ".jpg"))
    assert missing.status_code == 404
    for key in (private["w200.jpg"], unposted["w200.jpg"], deleted["w200.jpg"], source):
        response = app.client.get(media_path(key))
        assert response.status_code == 404 and response.json()["code"] == "not_found", key
        assert response.json()["detail"].startswith("no media")
    for path in ("/v1/media/%2E%2E/etc/passwd", "/v1/media/cas%2F%2Fx", "/v1/media/.env"):
        assert app.client.get(path).json()["detail"].startswith("no media"), path
    # the same keys, signed, are served (to whoever the URL was given), privately
    signed = app.client.get(_signed(app, private["w200.jpg"]))
    assert signed.status_code == 200 and signed.content == PHOTO
    max_age = int(signed.headers["cache-control"].removeprefix("private, max-age="))
    assert 3600 <= max_age <= 7200


def _post_of(conn: sa.Connection, upload_id: str) -> str:
    return str(conn.execute(sa.select(post_media.c.post_id).where(post_media.c.upload_id == upload_id)).scalar_one())


@SQLITE
def test_going_private_or_being_disabled_withdraws_unsigned_access_and_avatars_stay_public(app: MediaApp) -> None:
    keys = _ready_media(app, "ana")
    url = media_path(keys["w200.jpg"])
    assert app.client.get(url).status_code == 200
    for change in ({"private": True}, {"private": False, "disabled": True}):
        with app.engine.begin() as conn:
            conn.execute(sa.update(accounts).where(accounts.c.id == app.people["ana"].account_id).values(change))
        assert app.client.get(url).status_code == 404, change
    avatar = _ready_media(app, "dee", in_post=False)
    with app.engine.begin() as conn:
        conn.execute(
            sa.update(accounts)
            .where(accounts.c.id == app.people["dee"].account_id)
            .values(avatar_upload_id=avatar["upload_id"])
        )
    assert app.client.get(media_path(avatar["w200.jpg"])).status_code == 200


@SQLITE
def test_signed_urls_tampered_expired_for_another_key_or_half_are_refused(app: MediaApp) -> None:
    keys = _ready_media(app, "dee")
    key, other = keys["w200.jpg"], keys["list.m3u8"]
    urls = app.deps.media_urls
    exp = urls.expiry()
    good = f"{media_path(key)}?exp={exp}&sig={urls.signature(key, exp)}"
    assert app.client.get(good).status_code == 200
    past = int(time.time()) - 10
    cases = {
        f"{media_path(key)}?exp={exp}&sig={urls.signature(key, exp)[:-2]}AA": "does not match",
        f"{media_path(key)}?exp={exp + 3600}&sig={urls.signature(key, exp)}": "does not match",
        f"{media_path(key)}?exp={exp}&sig={urls.signature(other, exp)}": "does not match",
        f"{media_path(key)}?exp={past}&sig={urls.signature(key, past)}": "expired",
        f"{media_path(key)}?exp={exp}": "sig is missing",
        f"{media_path(key)}?exp=soon&sig=x": "epoch seconds",
        f"{media_path(key)}?exp={exp}&sig={SignedMediaUrls(b'another secret!!').signature(key, exp)}": "does not",
    }
    for url, why in cases.items():
        response = app.client.get(url)
        assert response.status_code == 403 and why in response.json()["detail"], (url, response.text)


@SQLITE
def test_signed_urls_hold_for_a_window_so_caches_and_etags_do(app: MediaApp) -> None:
    now = [600.0 * 1666]  # a window's start
    urls = SignedMediaUrls(SECRET, ttl_s=600, clock=lambda: now[0])
    first = urls.url("cas/sha256/ab/x.jpg", private=True)
    now[0] += 599
    assert urls.url("cas/sha256/ab/x.jpg", private=True) == first
    assert urls.expiry() - now[0] >= 600  # never less than ttl_s left
    assert urls.url("cas/sha256/ab/x.jpg", private=False) == "/v1/media/cas/sha256/ab/x.jpg"
    with pytest.raises(ValueError, match="ttl_s"):
        SignedMediaUrls(SECRET, ttl_s=0)


@SQLITE
def test_range_requests(app: MediaApp) -> None:
    keys = _ready_media(app, "ana")
    url, size = media_path(keys["w200.jpg"]), len(PHOTO)
    etag = app.client.get(url).headers["etag"]
    cases = {
        "bytes=0-99": (206, PHOTO[:100], f"bytes 0-99/{size}"),
        "bytes=-50": (206, PHOTO[-50:], f"bytes {size - 50}-{size - 1}/{size}"),
        "bytes=100-": (206, PHOTO[100:], f"bytes 100-{size - 1}/{size}"),
        f"bytes={size - 1}-{size + 500}": (206, PHOTO[-1:], f"bytes {size - 1}-{size - 1}/{size}"),
        f"bytes=-{size + 10}": (206, PHOTO, f"bytes 0-{size - 1}/{size}"),
        "bytes=0-1,5-6": (200, PHOTO, None),  # several ranges: the whole file
        "items=0-1": (200, PHOTO, None),
    }
    for header, (status, body, content_range) in cases.items():
        response = app.client.get(url, headers={"Range": header, "Accept-Encoding": "gzip"})
        assert response.status_code == status and response.content == body, header
        assert response.headers.get("content-range") == content_range and "content-encoding" not in response.headers
        assert response.headers["content-length"] == str(len(body)) and response.headers["etag"] == etag
    for header in (f"bytes={size}-", f"bytes={size + 100}-{size + 200}", "bytes=-0"):
        past = app.client.get(url, headers={"Range": header})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}", header
        assert past.headers["content-type"] == "application/problem+json"
    matching = app.client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    stale = app.client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"an-old-version"'})
    assert (matching.status_code, stale.status_code) == (206, 200) and stale.content == PHOTO
    head = app.client.head(url, headers={"Range": "bytes=10-19"})
    assert head.status_code == 206 and head.content == b"" and head.headers["content-length"] == "10"


def test_a_purged_upload_serves_nothing_even_signed(app: MediaApp) -> None:
    keys = _ready_media(app, "ana")
    signed, plain = _signed(app, keys["w200.jpg"]), media_path(keys["w200.jpg"])
    assert app.client.get(plain).status_code == app.client.get(signed).status_code == 200
    with app.engine.begin() as conn:
        delete_post(conn, app.people["ana"], _post_of(conn, keys["upload_id"]))
    with app.engine.begin() as conn:
        assert purge_deleted(conn, app.blobs, older_than_s=0, now=time.time() + 1) == 1
        left = conn.execute(sa.select(media_keys).where(media_keys.c.upload_id == keys["upload_id"])).all()
    assert left == []
    assert app.client.get(plain).status_code == app.client.get(signed).status_code == 404
