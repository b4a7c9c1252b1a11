"""Bearer tokens and session cookies; the CSRF token is required of cookie-authenticated unsafe
requests and of nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import bearer, cookie, csrf


def test_a_bearer_token_signs_in(client: TestClient) -> None:
    assert client.get("/demo/me", headers=bearer()).json() == {"handle": "alice"}


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("Bearer nobody-knows-me", "the bearer token is not valid"),
        ("Basic YWxpY2U6cHc=", "Authorization must be 'Bearer <token>'"),
        ("Bearer ", "Authorization must be 'Bearer <token>'"),
    ],
)
def test_a_bad_authorization_is_401_even_where_anonymous_may_read(
    client: TestClient, authorization: str, detail: str
) -> None:
    response = client.get("/demo/items", headers={"Authorization": authorization})
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    assert response.json()["field"] == "Authorization" and detail in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "ratelimit-remaining" in response.headers  # guessing tokens costs the address requests


def test_a_session_cookie_signs_in_and_a_stale_one_is_anonymous(client: TestClient) -> None:
    assert client.get("/demo/me", headers=cookie()).json() == {"handle": "alice"}
    assert client.get("/demo/items?limit=1", headers=cookie("expired")).status_code == 200
    assert client.get("/demo/me", headers=cookie("expired")).status_code == 401


def test_cookie_requests_that_change_things_need_the_csrf_token(client: TestClient) -> None:
    for method, url, kwargs in (
        ("POST", "/demo/posts", {"json": {"caption": "hi"}}),
        ("PATCH", "/demo/posts/1", {}),
        ("DELETE", "/demo/posts/1", {}),
    ):
        response = client.request(method, url, headers=cookie(), **kwargs)
        assert response.status_code == 403, (method, response.text)
        assert response.json()["code"] == "csrf_rejected" and response.json()["field"] == "X-CSRF-Token"
        wrong = client.request(method, url, headers={**cookie(), "X-CSRF-Token": csrf("another-session")}, **kwargs)
        assert wrong.status_code == 403 and "does not belong to this session" in wrong.json()["detail"]
        right = client.request(method, url, headers={**cookie(), "X-CSRF-Token": csrf()}, **kwargs)
        assert right.status_code in (200, 201), (method, right.text)


def test_a_form_may_carry_the_token_as_a_field(client: TestClient) -> None:
    refused = client.post("/demo/form", data={"caption": "hi"}, headers=cookie())
    assert refused.status_code == 403
    signed = client.post("/demo/form", data={"caption": "hi", "csrf_token": csrf()}, headers=cookie())
    assert signed.json() == {"caption": "hi", "by": "alice"}
    multipart = client.post(
        "/demo/form", data={"csrf_token": csrf(), "caption": "hi"}, files={"f": ("a.txt", b"x")}, headers=cookie()
    )
    assert multipart.status_code == 200, multipart.text


def test_bearer_requests_and_reads_need_no_csrf_token(client: TestClient) -> None:
    assert client.post("/demo/posts", json={"caption": "hi"}, headers=bearer()).status_code == 201
    assert client.delete("/demo/posts/1", headers=bearer()).status_code == 200
    # a cookie beside the bearer token does not make it a cookie request
    assert client.delete("/demo/posts/1", headers={**bearer(), **cookie()}).status_code == 200
    assert client.get("/demo/me", headers=cookie()).status_code == 200
    # anonymous unsafe requests have no session to forge
    assert client.post("/demo/posts", json={"caption": "hi"}).status_code == 201


@pytest.mark.parametrize(("base_url", "secure"), [("http://testserver", False), ("https://testserver", True)])
def test_the_session_cookie_attributes(make_client: Any, base_url: str, secure: bool) -> None:
    client: TestClient = make_client(base_url=base_url)
    response = client.post("/demo/login")
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    session = cookies["darkroom_session"].lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert ("secure" in session.split("; ")) is secure
    token = cookies["darkroom_csrf"]
    assert token.startswith(f"darkroom_csrf={csrf()};") and "httponly" not in token.lower()
    logout = client.post("/demo/logout", headers={**cookie(), "X-CSRF-Token": csrf()})
    cleared = logout.headers.get_list("set-cookie")
    assert len(cleared) == 2 and all("max-age=0" in c.lower() for c in cleared)
