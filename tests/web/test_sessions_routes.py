"""/v1/sessions and /v1/tokens over HTTP: logging in (token, cookies, CSRF), throttling, logging out,
API tokens and their scopes; on the real app (DatabaseAuthenticator, real Redis)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from darkroom.web.auth import csrf_token_for
from tests.web.real_app import PASSWORD, SECRET, SocialApp, social_app

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[SocialApp]:
    with social_app(db_engine, redis_client, tmp_path) as made:
        yield made


def _set_cookies(response_headers: list[str]) -> dict[str, SimpleCookie]:
    found = {}
    for header in response_headers:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        found.update(dict.fromkeys(cookie, cookie))
    return found


def test_logging_in_by_handle_or_email_gives_a_token_the_account_and_cookies(app: SocialApp) -> None:
    app.join("alice")
    for login in ("alice", "ALICE@example.com"):
        response = app.client.post("/v1/sessions", json={"login": login, "password": PASSWORD})
        app.client.cookies.clear()
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["token"].startswith("drs_") and body["token_type"] == "Bearer"
        assert body["account"]["handle"] == "alice" and body["expires_at"].endswith("Z")
        assert body["csrf_token"] == csrf_token_for(SECRET, body["token"])
        assert response.headers["cache-control"] == "no-store"
        cookies = _set_cookies(response.headers.get_list("set-cookie"))
        session = cookies["darkroom_session"]["darkroom_session"]
        assert session.value == body["token"] and session["httponly"] and session["samesite"] == "lax"
        assert not session["secure"]  # plain http here; the https test is beside the cookie helpers
        csrf = cookies["darkroom_csrf"]["darkroom_csrf"]
        assert csrf.value == body["csrf_token"] and not csrf["httponly"]
        me = app.client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.json()["handle"] == "alice"


@sqlite_only
def test_over_https_the_session_cookie_is_secure(
    db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path
) -> None:
    with social_app(db_engine, redis_client, tmp_path, base_url="https://testserver") as app:
        app.join("alice")
        response = app.client.post("/v1/sessions", json={"login": "alice", "password": PASSWORD})
    cookies = _set_cookies(response.headers.get_list("set-cookie"))
    assert cookies["darkroom_session"]["darkroom_session"]["secure"]


@sqlite_only
def test_a_cookie_write_needs_the_csrf_token_and_a_bearer_one_does_not(app: SocialApp) -> None:
    alice = app.join("alice")
    url, body = "/v1/accounts/me?update_mask=bio", {"bio": "hello"}
    refused = app.client.patch(url, json=body, headers=alice.cookie)
    assert (refused.status_code, refused.json()["code"]) == (403, "csrf_rejected")
    wrong = app.client.patch(url, json=body, headers={**alice.cookie, "X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert app.client.get("/v1/accounts/me?fields=bio", headers=alice.bearer).json() == {"bio": ""}
    signed = app.client.patch(url, json=body, headers={**alice.cookie, "X-CSRF-Token": alice.csrf})
    assert signed.status_code == 200 and signed.json()["bio"] == "hello"
    bearer = app.client.patch(url, json={"bio": "again"}, headers=alice.bearer)
    assert bearer.status_code == 200 and bearer.json()["bio"] == "again"
    assert app.client.get("/v1/accounts/me", headers=alice.cookie).status_code == 200  # reads need none


@sqlite_only
def test_a_wrong_password_is_401_and_too_many_are_429_with_retry_after(app: SocialApp) -> None:
    app.join("alice")
    for _ in range(10):
        failed = app.client.post("/v1/sessions", json={"login": "alice", "password": "wrong password"})
        assert (failed.status_code, failed.json()["code"]) == (401, "login_failed")
        assert failed.json()["detail"] == "wrong handle, email or password"
    unknown = app.client.post("/v1/sessions", json={"login": "nobody", "password": "wrong password"})
    assert (unknown.status_code, unknown.json()["code"]) == (401, "login_failed")
    throttled = app.client.post("/v1/sessions", json={"login": "alice", "password": PASSWORD})
    assert (throttled.status_code, throttled.json()["code"]) == (429, "login_throttled")
    assert 1 <= int(throttled.headers["retry-after"]) <= 900
    assert "set-cookie" not in throttled.headers
    bad = app.client.post("/v1/sessions", json={"login": "alice"})
    assert (bad.status_code, bad.json()["field"]) == (400, "password")


def test_logging_out_revokes_the_session_and_clears_the_cookies(app: SocialApp) -> None:
    alice = app.join("alice")
    refused = app.client.delete("/v1/sessions/current", headers=alice.cookie)
    assert refused.status_code == 403  # a cookie logout is a write like any other
    out = app.client.delete("/v1/sessions/current", headers={**alice.cookie, "X-CSRF-Token": alice.csrf})
    assert out.status_code == 204
    cleared = _set_cookies(out.headers.get_list("set-cookie"))
    assert cleared["darkroom_session"]["darkroom_session"]["max-age"] == "0"
    assert cleared["darkroom_csrf"]["darkroom_csrf"]["max-age"] == "0"
    assert app.client.get("/v1/accounts/me", headers=alice.cookie).status_code == 401
    assert app.client.get("/v1/accounts/me", headers=alice.bearer).status_code == 401
    assert app.client.delete("/v1/sessions/current").status_code == 204  # nobody signed in: fine too


@sqlite_only
def test_a_bearer_logout_revokes_that_token(app: SocialApp) -> None:
    alice = app.join("alice")
    made = app.client.post("/v1/tokens", json={"name": "cli", "scopes": ["read", "write"]}, headers=alice.bearer)
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    assert app.client.delete("/v1/sessions/current", headers=token).status_code == 204
    assert app.client.get("/v1/accounts/me", headers=token).status_code == 401
    assert app.client.get("/v1/accounts/me", headers=alice.bearer).status_code == 200


@sqlite_only
def test_tokens_are_shown_once_listed_without_secrets_and_revoked(app: SocialApp) -> None:
    alice, bob = app.join("alice"), app.join("bob")
    made = app.client.post(
        "/v1/tokens", json={"name": "backup script", "scopes": ["read"], "expires_in_s": 3600}, headers=alice.bearer
    )
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    token = made.json()
    assert token["token"].startswith("drt_") and token["scopes"] == ["read"] and token["expires_at"] is not None
    listed = app.client.get("/v1/tokens", headers=alice.bearer)
    assert listed.headers["cache-control"] == "private, no-cache"
    assert [t["name"] for t in listed.json()["items"]] == ["backup script"]
    assert "token" not in listed.json()["items"][0] and listed.json()["next_cursor"] is None
    assert app.client.get("/v1/tokens", headers=bob.bearer).json()["items"] == []
    assert app.client.delete(f"/v1/tokens/{token['id']}", headers=bob.bearer).status_code == 404
    assert app.client.delete(f"/v1/tokens/{token['id']}", headers=alice.bearer).status_code == 204
    assert app.client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {token['token']}"}).status_code == 401
    assert app.client.get("/v1/tokens", headers=alice.bearer).json()["items"] == []
    longest = app.client.post("/v1/tokens", json={"name": "n" * 100, "scopes": ["write"]}, headers=alice.bearer)
    assert longest.status_code == 201 and longest.json()["name"] == "n" * 100
    for body, field in (
        ({"name": "x", "scopes": ["admin"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x" * 101, "scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "expires_in_s": -1}, "expires_in_s"),
    ):
        refused = app.client.post("/v1/tokens", json=body, headers=alice.bearer)
        assert (refused.status_code, refused.json()["field"]) == (400, field), body
    assert app.client.post("/v1/tokens", json={"name": "x", "scopes": ["read"]}).status_code == 401


@sqlite_only
def test_reads_do_not_take_the_write_lock(app: SocialApp, database_url: str) -> None:
    """Every GET answers while another connection holds SQLite's write lock (they begin DEFERRED)."""
    alice = app.join("alice")
    app.join("bob")
    locker = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        for url in (
            "/v1/accounts/bob",
            "/v1/accounts/me",
            "/v1/accounts/bob/followers",
            "/v1/accounts/bob/following",
            "/v1/follow-requests",
            "/v1/search?q=b",
            "/v1/tokens",
        ):
            assert app.client.get(url, headers=alice.bearer).status_code == 200, url
    finally:
        locker.execute("ROLLBACK")
        locker.close()


@sqlite_only
def test_a_cached_token_is_refused_at_the_next_request_after_revoking_or_deleting(app: SocialApp) -> None:
    alice = app.join("alice")
    made = app.client.post("/v1/tokens", json={"name": "cli", "scopes": ["read"]}, headers=alice.bearer)
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    assert app.client.get("/v1/accounts/me", headers=token).status_code == 200  # now in the credential cache
    assert app.client.get("/v1/accounts/me", headers=token).status_code == 200  # served from it
    assert app.client.delete(f"/v1/tokens/{made.json()['id']}", headers=alice.bearer).status_code == 204
    assert app.client.get("/v1/accounts/me", headers=token).status_code == 401
    assert app.client.get("/v1/accounts/me", headers=alice.bearer).status_code == 200
    assert app.client.delete("/v1/accounts/me", headers=alice.bearer).status_code == 204
    assert app.client.get("/v1/accounts/me", headers=alice.bearer).status_code == 401
