"""gzip for JSON of 1 KB and more, never below, never for media (and never for a byte range); a
compressed answer's strong ETag is its own (``-gzip``), and conditional requests see through it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from darkroom.api.etags import ETag, parse
from darkroom.web.app import GZIP_MINIMUM_BYTES
from darkroom.web.compression import coded, uncoded
from tests.web.real_app import SocialApp, social_app

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

GZIP = {"Accept-Encoding": "gzip"}
# {"text":"…"} is 11 bytes around the text
_AROUND = len(b'{"text":""}')


@pytest.mark.parametrize(
    ("size", "compressed"), [(GZIP_MINIMUM_BYTES - 1, False), (GZIP_MINIMUM_BYTES, True), (200_000, True)]
)
def test_json_is_compressed_from_1_kb(client: TestClient, size: int, compressed: bool) -> None:
    response = client.get(f"/demo/big?n={size - _AROUND}", headers=GZIP)
    assert response.status_code == 200 and len(response.content) == size
    assert (response.headers.get("content-encoding") == "gzip") is compressed
    if compressed:
        assert int(response.headers["content-length"]) < size // 4
        assert "accept-encoding" in response.headers["vary"].lower()


def test_only_for_clients_that_ask(client: TestClient) -> None:
    response = client.get("/demo/big?n=5000", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    "content_type",
    [
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/avif",
        "image/heic",
        "image/svg+xml",
        "image/tiff",
        "video/mp4",
        "video/webm",
        "audio/mp4",
    ],
)
def test_media_is_never_compressed(client: TestClient, content_type: str) -> None:
    response = client.get("/demo/media", params={"content_type": content_type, "n": 100_000}, headers=GZIP)
    assert response.status_code == 200 and response.headers["content-type"].startswith(content_type)
    assert "content-encoding" not in response.headers and len(response.content) == 100_000


# -- ETags of compressed answers (web/compression.py) ----------------------------------------------
IDENTITY = {"Accept-Encoding": "identity"}
# 500 two-byte characters: the account's JSON passes 1 KB, so a gzip client gets it compressed
LONG_BIO = "\u00fc" * 500


@pytest.fixture
def accounts_app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[SocialApp]:
    with social_app(db_engine, redis_client, tmp_path) as made:
        yield made


def _long_profile(app: SocialApp) -> dict[str, str]:
    """Alice signed up with a bio long enough to be compressed; her bearer header."""
    alice = app.join("alice")
    edit = app.client.patch("/v1/accounts/me?update_mask=bio", json={"bio": LONG_BIO}, headers=alice.bearer)
    assert edit.status_code == 200, edit.text
    return alice.bearer


def _tag(response: Any) -> ETag:
    (tag,) = parse(response.headers["etag"]).tags
    return tag


def _varies_on_encoding(response: Any) -> bool:
    return "accept-encoding" in [v.strip().lower() for v in response.headers.get("vary", "").split(",")]


@SQLITE
def test_a_compressed_answer_has_its_own_strong_tag_and_revalidates_with_it(accounts_app: SocialApp) -> None:
    bearer = _long_profile(accounts_app)
    get = accounts_app.client.get
    plain = get("/v1/accounts/me", headers={**bearer, **IDENTITY})
    packed = get("/v1/accounts/me", headers={**bearer, **GZIP})
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content  # the same representation, coded
    assert _tag(packed) == coded(_tag(plain)) == ETag(_tag(plain).opaque + "-gzip")  # strong, another tag
    assert _varies_on_encoding(plain) and _varies_on_encoding(packed)
    assert packed.headers["vary"].startswith("Authorization, Cookie")

    # each client revalidates with the tag it holds: 304, with that tag (a cache refreshes by it)
    for asked, held in ((GZIP, packed.headers["etag"]), (IDENTITY, plain.headers["etag"])):
        again = get("/v1/accounts/me", headers={**bearer, **asked, "If-None-Match": held})
        assert again.status_code == 304 and again.content == b"", asked
        assert again.headers["etag"] == held and _varies_on_encoding(again)
    # a gzip client's tag among others, and weakened: weak comparison still matches
    listed = f'"other", W/{packed.headers["etag"]}'
    assert get("/v1/accounts/me", headers={**bearer, **GZIP, "If-None-Match": listed}).status_code == 304
    # after an edit, neither tag matches
    edited = accounts_app.client.patch(
        "/v1/accounts/me?update_mask=display_name", json={"display_name": "Alice"}, headers=bearer
    )
    assert edited.status_code == 200
    for asked, held in ((GZIP, packed.headers["etag"]), (IDENTITY, plain.headers["etag"])):
        fresh = get("/v1/accounts/me", headers={**bearer, **asked, "If-None-Match": held})
        assert fresh.status_code == 200 and fresh.json()["display_name"] == "Alice"


@SQLITE
@pytest.mark.parametrize("encoding", [GZIP, IDENTITY], ids=["gzip", "identity"])
def test_patch_takes_the_tag_the_client_read_and_refuses_it_once_stale(
    accounts_app: SocialApp, encoding: dict[str, str]
) -> None:
    bearer = {**_long_profile(accounts_app), **encoding}
    read = accounts_app.client.get("/v1/accounts/me", headers=bearer)
    assert (read.headers.get("content-encoding") == "gzip") is (encoding is GZIP)
    tag = read.headers["etag"]

    def patch(if_match: str, name: str) -> Any:
        return accounts_app.client.patch(
            "/v1/accounts/me?update_mask=display_name",
            json={"display_name": name},
            headers={**bearer, "If-Match": if_match},
        )

    current = patch(tag, "first")
    assert current.status_code == 200, current.text
    assert current.json()["display_name"] == "first"
    stale = patch(tag, "second")
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    # the write's own answer carries the next tag (coded like the answer): it takes the next write
    assert (current.headers.get("content-encoding") == "gzip") is (encoding is GZIP)
    assert patch(current.headers["etag"], "third").status_code == 200
    # If-Match compares strongly: the tag weakened is refused
    latest = accounts_app.client.get("/v1/accounts/me", headers=bearer).headers["etag"]
    assert patch(f"W/{latest}", "fourth").status_code == 412


@SQLITE
def test_small_answers_keep_their_tag_and_still_vary(accounts_app: SocialApp) -> None:
    bearer = _long_profile(accounts_app)
    small = accounts_app.client.get("/v1/accounts/me?fields=handle", headers={**bearer, **GZIP})
    assert "content-encoding" not in small.headers and not _tag(small).opaque.endswith("-gzip")
    assert _varies_on_encoding(small)
    again = accounts_app.client.get(
        "/v1/accounts/me?fields=handle", headers={**bearer, **GZIP, "If-None-Match": small.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["etag"] == small.headers["etag"]


@SQLITE
def test_a_malformed_condition_is_named_as_the_client_sent_it(accounts_app: SocialApp) -> None:
    bearer = _long_profile(accounts_app)
    bad = accounts_app.client.get("/v1/accounts/me", headers={**bearer, **GZIP, "If-None-Match": '"abc-gzip'})
    assert bad.status_code == 400 and "'\"abc-gzip'" in bad.json()["detail"]


def test_coded_and_uncoded_tags() -> None:
    assert coded(ETag("3-abc")) == ETag("3-abc-gzip") and uncoded(ETag("3-abc-gzip")) == ETag("3-abc")
    assert coded(ETag("abc", weak=True)) == ETag("abc", weak=True)  # weak tags may be shared by codings
    assert uncoded(ETag("abc-gzip", weak=True)) == ETag("abc", weak=True)
    assert uncoded(ETag("abc")) == ETag("abc")
