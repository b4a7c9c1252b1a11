"""/v1/accounts over HTTP: sign-up at its limits, profiles with fields= and 304s, PATCH with an update
mask and If-Match, deletion, search; on the real app (DatabaseAuthenticator, real Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from darkroom.social import errors as social_errors
from darkroom.storage.schema import accounts
from darkroom.web.problems import HTTP_STATUSES
from tests.social.rows import make_account, make_post, make_upload
from tests.web.real_app import PASSWORD, SocialApp, social_app

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[SocialApp]:
    with social_app(db_engine, redis_client, tmp_path) as made:
        yield made


def _sign_up(app: SocialApp, handle: str, email: str | None = None, password: str = PASSWORD) -> dict[str, object]:
    body = {"handle": handle, "email": email or f"{len(handle)}x@example.com", "password": password}
    response = app.client.post("/v1/accounts", json=body)
    return {"status": response.status_code, **response.json(), "location": response.headers.get("location")}


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(accounts)).scalar_one())


# -- sign-up --------------------------------------------------------------------------------------
def test_sign_up_at_the_limits_and_one_past_each(app: SocialApp) -> None:
    longest, password = "a" * 29 + "z", "p" * 256
    made = _sign_up(app, longest, password=password)
    assert made["status"] == 201 and made["handle"] == longest
    assert made["location"] == f"/v1/accounts/{longest}"
    assert made["private"] is False and made["follower_count"] == 0 and isinstance(made["id"], str)
    assert app.client.post("/v1/sessions", json={"login": longest, "password": password}).status_code == 201
    app.client.cookies.clear()

    too_long = _sign_up(app, "b" * 31)
    assert (too_long["status"], too_long["code"], too_long["field"]) == (400, "invalid_input", "handle")
    assert "b" * 31 in str(too_long["detail"])
    too_long_password = _sign_up(app, "carol", password="p" * 257)
    assert (too_long_password["status"], too_long_password["field"]) == (400, "password")
    assert "257" in str(too_long_password["detail"])
    assert _count(app.engine) == 1  # nothing stored for the refused ones


@sqlite_only
def test_a_look_alike_handle_is_refused_naming_the_character(app: SocialApp) -> None:
    refused = _sign_up(app, "\u0430lice")  # Cyrillic a
    assert refused["status"] == 400 and refused["field"] == "handle"
    assert "U+0430" in str(refused["detail"]) and "looks like another character" in str(refused["detail"])
    folded = _sign_up(app, "\uff21\uff2c\uff29\uff23\uff25")  # fullwidth ALICE is alice
    assert folded["status"] == 201 and folded["handle"] == "alice"
    assert _count(app.engine) == 1


def test_a_taken_handle_or_email_is_409_naming_it(app: SocialApp) -> None:
    assert _sign_up(app, "alice", "alice@example.com")["status"] == 201
    handle = _sign_up(app, "ALICE", "other@example.com")
    assert (handle["status"], handle["code"], handle["field"]) == (409, "already_exists", "handle")
    email = _sign_up(app, "alice2", "Alice@Example.com")
    assert (email["status"], email["field"]) == (409, "email") and "alice@example.com" in str(email["detail"])
    assert _count(app.engine) == 1


@sqlite_only
def test_a_sign_up_with_an_unknown_or_missing_field_is_400(app: SocialApp) -> None:
    extra = app.client.post(
        "/v1/accounts", json={"handle": "alice", "email": "a@example.com", "password": PASSWORD, "admin": True}
    )
    assert extra.status_code == 400 and extra.json()["field"] == "admin"
    missing = app.client.post("/v1/accounts", json={"handle": "alice", "email": "a@example.com"})
    assert missing.status_code == 400 and missing.json()["field"] == "password"
    assert _count(app.engine) == 0


# -- reading ----------------------------------------------------------------------------------------
@sqlite_only
def test_a_profile_with_fields_and_its_cache_headers(app: SocialApp) -> None:
    alice, bob = app.join("alice"), app.join("bob")
    only_handle = app.client.get("/v1/accounts/alice?fields=handle")
    assert only_handle.status_code == 200 and only_handle.json() == {"handle": "alice"}
    counts = app.client.get("/v1/accounts/ALICE", params={"fields": "follower_count,followed_by_me"}).json()
    assert counts == {"follower_count": 0, "followed_by_me": False}
    bad = app.client.get("/v1/accounts/alice?fields=handle,password_hash")
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (400, "invalid_field_mask", "fields")
    assert "password_hash" in bad.json()["detail"]

    anonymous = app.client.get("/v1/accounts/alice")
    assert anonymous.headers["cache-control"] == "public, no-cache"
    assert anonymous.headers["vary"] == "Authorization, Cookie, Accept-Encoding"
    assert app.client.post("/v1/accounts/alice/follow", headers=bob.bearer).json() == {"state": "active"}
    as_bob = app.client.get("/v1/accounts/alice", headers=bob.bearer)
    assert as_bob.headers["cache-control"] == "private, no-cache" and as_bob.json()["followed_by_me"] is True
    assert as_bob.headers["etag"] != anonymous.headers["etag"]
    me = app.client.get("/v1/accounts/me", headers=alice.bearer)
    assert me.json()["handle"] == "alice" and me.headers["cache-control"] == "private, no-cache"
    assert app.client.get("/v1/accounts/me").status_code == 401
    missing = app.client.get("/v1/accounts/nobody")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


@sqlite_only
def test_if_none_match_answers_304_until_the_account_changes(app: SocialApp) -> None:
    alice = app.join("alice")
    first = app.client.get("/v1/accounts/alice?fields=display_name", headers=alice.bearer)
    tag = first.headers["etag"]
    again = app.client.get("/v1/accounts/alice?fields=display_name", headers={**alice.bearer, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert (
        again.headers["vary"] == "Authorization, Cookie, Accept-Encoding"
        and again.headers["cache-control"] == "private, no-cache"
    )
    other_mask = app.client.get("/v1/accounts/alice?fields=bio", headers={**alice.bearer, "If-None-Match": tag})
    assert other_mask.status_code == 200
    edit = app.client.patch(
        "/v1/accounts/me?update_mask=display_name", json={"display_name": "Alice"}, headers=alice.bearer
    )
    assert edit.status_code == 200
    changed = app.client.get("/v1/accounts/alice?fields=display_name", headers={**alice.bearer, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.json() == {"display_name": "Alice"}


# -- editing ----------------------------------------------------------------------------------------
def test_patch_writes_the_masked_fields_only_and_if_match_guards_it(app: SocialApp) -> None:
    alice = app.join("alice")
    current = app.client.get("/v1/accounts/me", headers=alice.bearer)
    tag = current.headers["etag"]
    body = {**current.json(), "display_name": "Alice L.", "bio": "ignored: not in the mask", "handle": "mallory"}
    edited = app.client.patch(
        "/v1/accounts/me?update_mask=display_name", json=body, headers={**alice.bearer, "If-Match": tag}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["display_name"] == "Alice L." and edited.json()["bio"] == ""
    assert edited.json()["handle"] == "alice"  # output-only fields in the body are ignored
    assert edited.headers["etag"] == app.client.get("/v1/accounts/me", headers=alice.bearer).headers["etag"]

    stale = app.client.patch(
        "/v1/accounts/me?update_mask=bio", json={"bio": "late"}, headers={**alice.bearer, "If-Match": tag}
    )
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    masked = app.client.get("/v1/accounts/alice?fields=bio", headers=alice.bearer).headers["etag"]
    assert masked != edited.headers["etag"]  # another representation of the same version
    fresh = app.client.patch(
        "/v1/accounts/me?update_mask=bio,private",
        json={"bio": "line one\nline two", "private": True},
        headers={**alice.bearer, "If-Match": masked},
    )
    assert fresh.status_code == 200 and fresh.json()["private"] is True
    assert fresh.json()["bio"] == "line one\nline two"
    weak = app.client.patch(
        "/v1/accounts/me?update_mask=bio", json={}, headers={**alice.bearer, "If-Match": f"W/{fresh.headers['etag']}"}
    )
    assert weak.status_code == 412  # If-Match compares strongly
    longest = app.client.patch(
        "/v1/accounts/me?update_mask=display_name,bio",
        json={"displayName": "n" * 64, "bio": "b" * 500},
        headers=alice.bearer,
    )
    assert longest.status_code == 200 and len(longest.json()["bio"]) == 500  # both at their limits
    cleared = app.client.patch("/v1/accounts/me?update_mask=*", json={}, headers={**alice.bearer, "If-Match": "*"})
    assert cleared.json()["display_name"] == "" and cleared.json()["private"] is False


@sqlite_only
@pytest.mark.parametrize(
    ("query", "body", "field", "named"),
    [
        ("update_mask=display_name", {"display_name": "A", "displayname": "typo"}, "displayname", "displayname"),
        ("update_mask=bio", {"bio": "x", "avatar": {"kind": "photo", "colour": "red"}}, "avatar", "colour"),
        ("update_mask=private", {"private": "yes"}, "private", "'yes'"),
        ("update_mask=handle", {"handle": "mallory"}, "update_mask", "'handle'"),
        ("update_mask=follower_count", {}, "update_mask", "follower_count"),
        ("update_mask=nickname", {}, "update_mask", "nickname"),
        ("update_mask=display_name,avatar.id", {}, "update_mask", "avatar.id"),
        ("", {"display_name": "A"}, "update_mask", "update_mask"),
        ("update_mask=display_name", {"display_name": "x" * 65}, "display_name", "65 characters"),
        ("update_mask=bio", {"bio": "bell\x07"}, "bio", "control character"),
    ],
)
def test_a_bad_patch_is_400_naming_what_is_wrong_and_changes_nothing(
    app: SocialApp, query: str, body: dict[str, object], field: str, named: str
) -> None:
    alice = app.join("alice")
    before = app.client.get("/v1/accounts/me", headers=alice.bearer).json()
    refused = app.client.patch(f"/v1/accounts/me?{query}", json=body, headers=alice.bearer)
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == field and named in refused.json()["detail"]
    assert app.client.get("/v1/accounts/me", headers=alice.bearer).json() == before


@sqlite_only
def test_a_patch_body_that_is_not_an_object_is_400(app: SocialApp) -> None:
    alice = app.join("alice")
    for body in ([1, 2], "text", None):
        refused = app.client.patch("/v1/accounts/me?update_mask=bio", json=body, headers=alice.bearer)
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_input", refused.text


@sqlite_only
def test_a_read_only_token_reads_but_cannot_write(app: SocialApp) -> None:
    alice = app.join("alice")
    app.join("bob")
    made = app.client.post("/v1/tokens", json={"name": "reader", "scopes": ["read"]}, headers=alice.bearer)
    reader = {"Authorization": f"Bearer {made.json()['token']}"}
    assert app.client.get("/v1/accounts/me", headers=reader).status_code == 200
    for method, url, body in (
        ("PATCH", "/v1/accounts/me?update_mask=bio", {"bio": "x"}),
        ("DELETE", "/v1/accounts/me", None),
        ("POST", "/v1/accounts/bob/follow", None),
        ("POST", "/v1/accounts/bob/block", None),
        ("POST", "/v1/tokens", {"name": "writer", "scopes": ["read", "write"]}),
    ):
        refused = app.client.request(method, url, json=body, headers=reader)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), (method, url)
    assert app.client.get("/v1/accounts/bob?fields=follower_count").json() == {"follower_count": 0}


@sqlite_only
def test_deleting_the_account_signs_it_out_everywhere(app: SocialApp) -> None:
    alice = app.join("alice")
    deleted = app.client.delete("/v1/accounts/me", headers=alice.bearer)
    assert deleted.status_code == 204
    assert app.client.get("/v1/accounts/alice").status_code == 404
    assert app.client.get("/v1/accounts/me", headers=alice.bearer).status_code == 401
    again = app.client.post("/v1/accounts", json={"handle": "alice", "email": "new@example.com", "password": PASSWORD})
    assert again.status_code == 409  # the handle stays taken


# -- search -----------------------------------------------------------------------------------------
@sqlite_only
def test_search_finds_accounts_and_tags_by_prefix(app: SocialApp) -> None:
    alice = app.join("alice")
    with app.engine.begin() as conn:
        sunny = make_account(conn, "sunny", display_name="Sun Lover")
        make_account(conn, "bob", display_name="Sunday Bob")
        blocker = make_account(conn, "sunblock")
        make_post(conn, sunny, tags=["sunset", "sun"])
        make_post(conn, sunny, tags=["sun"])
    assert app.client.post("/v1/accounts/sunblock/block", headers=alice.bearer).status_code == 204
    assert blocker

    both = app.client.get("/v1/search?q=sun&fields=handle", headers=alice.bearer).json()
    assert both == {
        "accounts": [{"handle": "sunny"}, {"handle": "bob"}],  # handle matches first; the blocked left out
        "tags": [{"name": "sun", "post_count": 2}, {"name": "sunset", "post_count": 1}],
    }
    anonymous = app.client.get("/v1/search?q=sun&fields=handle").json()
    assert [a["handle"] for a in anonymous["accounts"]] == ["sunblock", "sunny", "bob"]
    assert app.client.get("/v1/search?q=%23Sun&limit=1").json() == {
        "accounts": [],
        "tags": [{"name": "sun", "post_count": 2}],
    }
    people = app.client.get("/v1/search?q=@sunn&fields=handle,display_name").json()
    assert people == {"accounts": [{"handle": "sunny", "display_name": "Sun Lover"}], "tags": []}
    spaced = app.client.get("/v1/search?q=sun%20lo&fields=handle").json()
    assert spaced == {"accounts": [{"handle": "sunny"}], "tags": []}
    for query, field in (("q=%23a-b", "q"), ("q=", "q"), ("q=sun&limit=101", "limit"), ("q=sun&fields=nope", "fields")):
        refused = app.client.get(f"/v1/search?{query}")
        assert (refused.status_code, refused.json()["field"]) == (400, field), query


# -- errors -----------------------------------------------------------------------------------------
_REQUIRED = {
    "LoginThrottled": {"retry_after_s": 1},
    "TooLarge": {"max_bytes": 1},
    "OffsetMismatch": {"expected_offset": 0},
}


def test_every_social_error_has_a_client_status() -> None:
    """Each error a request can cause answers 4xx (LeaseLost is the relay's own, never a request's),
    but CacheUnreachable: Redis down at a revocation is the server's, 503."""
    statuses = {
        name: HTTP_STATUSES.status(cls("x", **_REQUIRED.get(name, {})))
        for name in social_errors.__all__
        if isinstance(cls := getattr(social_errors, name), type) and name not in {"SocialError", "LeaseLost"}
    }
    assert statuses.pop("CacheUnreachable") == 503
    assert all(400 <= status < 500 for status in statuses.values()), statuses
    assert statuses["Blocked"] == 403 and statuses["LoginFailed"] == 401 and statuses["AccountDisabled"] == 401
    assert statuses["LoginThrottled"] == 429 and statuses["PreconditionFailed"] == 412


@sqlite_only
def test_an_avatar_is_one_of_ones_own_photos_and_can_be_cleared(app: SocialApp) -> None:
    alice, bob = app.join("alice"), app.join("bob")
    with app.engine.begin() as conn:
        photo = make_upload(conn, alice.id)
        clip = make_upload(conn, alice.id, kind="video")
        failed = make_upload(conn, alice.id, state="failed")
        bobs = make_upload(conn, bob.id)
    set_avatar = app.client.patch(
        "/v1/accounts/me?update_mask=avatar", json={"avatar": {"id": photo}}, headers=alice.bearer
    )
    assert set_avatar.status_code == 200, set_avatar.text
    avatar = app.client.get("/v1/accounts/alice?fields=avatar", headers=bob.bearer).json()["avatar"]
    assert avatar["id"] == photo and avatar["renditions"][0]["url"].startswith("/v1/media/")
    for upload, why in ((bobs, "not an upload of yours"), (clip, "an avatar is a photo"), (failed, "a failed")):
        refused = app.client.patch(
            "/v1/accounts/me?update_mask=avatar", json={"avatar": {"id": upload}}, headers=alice.bearer
        )
        assert (refused.status_code, refused.json()["field"]) == (400, "avatar.id"), refused.text
        assert why in refused.json()["detail"] and upload in refused.json()["detail"]
    assert app.client.get("/v1/accounts/alice?fields=avatar", headers=bob.bearer).json()["avatar"]["id"] == photo
    cleared = app.client.patch("/v1/accounts/me?update_mask=avatar", json={}, headers=alice.bearer)
    assert cleared.status_code == 200 and "avatar" not in cleared.json()
