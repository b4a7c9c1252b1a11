"""Rate limits per address (always) and per account (signed in): headers on every response, 429
with Retry-After one past the limit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from darkroom.api.ratelimit import Rate
from darkroom.config import ConfigError, Settings
from darkroom.web.deps import HttpLimits
from tests.web.conftest import bearer

HOUR = 3600.0  # nothing is re-admitted by the clock while a test runs


def _limits(response: Any) -> tuple[int, int, int]:
    h = response.headers
    return int(h["ratelimit-limit"]), int(h["ratelimit-remaining"]), int(h["ratelimit-reset"])


def test_an_address_at_its_limit_and_one_past(make_client: Any) -> None:
    client: TestClient = make_client(HttpLimits(per_ip=Rate(3, HOUR), per_account=Rate(100, HOUR)))
    # every kind of answer counts and carries the headers: a page, a problem, an unknown route
    answers = [client.get("/demo/items?limit=1"), client.get("/demo/missing"), client.get("/nowhere")]
    assert [r.status_code for r in answers] == [200, 404, 404]
    assert [_limits(r)[:2] for r in answers] == [(3, 2), (3, 1), (3, 0)]
    refused = client.get("/demo/items?limit=1")
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "rate_limited" and "ip 'testclient'" in body["detail"] and "3 per 3600 s" in body["detail"]
    retry = int(refused.headers["retry-after"])
    assert 1190 <= retry <= 1200  # one request comes back every 3600 s / 3
    assert _limits(refused)[:2] == (3, 0) and f"retry in {retry} s" in body["detail"]


def test_an_account_is_limited_across_its_addresses_and_not_its_neighbours(make_client: Any) -> None:
    client: TestClient = make_client(HttpLimits(per_ip=Rate(10, HOUR), per_account=Rate(2, HOUR)))
    signed = [client.get("/demo/me", headers=bearer()) for _ in range(2)]
    assert [_limits(r)[:2] for r in signed] == [(2, 1), (2, 0)]  # the tighter quota is reported
    refused = client.get("/demo/me", headers=bearer())
    assert refused.status_code == 429 and "account '01ALICE'" in refused.json()["detail"]
    assert "retry-after" in refused.headers
    # the address was charged for the admitted requests only, so others behind it go on
    anonymous = client.get("/demo/items?limit=1")
    assert anonymous.status_code == 200 and _limits(anonymous)[:2] == (10, 7)
    assert client.get("/demo/me", headers=bearer("bob-token")).status_code == 200


def test_a_write_answer_carries_the_headers_too(client: TestClient) -> None:
    response = client.post("/demo/posts", json={"caption": "x"}, headers={**bearer(), "Idempotency-Key": "k"})
    assert response.status_code == 201 and "ratelimit-limit" in response.headers
    replay = client.post("/demo/posts", json={"caption": "x"}, headers={**bearer(), "Idempotency-Key": "k"})
    assert replay.headers["idempotent-replayed"] == "true"
    assert int(replay.headers["ratelimit-remaining"]) == int(response.headers["ratelimit-remaining"]) - 1


def test_static_files_and_media_have_a_quota_of_their_own_and_look_up_no_credential(make_client: Any) -> None:
    limits = HttpLimits(per_ip=Rate(2, HOUR), per_account=Rate(100, HOUR), per_ip_assets=Rate(3, HOUR))
    client: TestClient = make_client(limits)
    # a bad token would be a 401 anywhere else: here nobody is asked (media are public or signed)
    assets = [
        client.get("/v1/media/nothing/here.jpg", headers=bearer("no-such-token")),
        client.head("/v1/media/nothing/here.jpg"),
        client.get("/static/app.css"),
    ]
    assert [r.status_code for r in assets] == [404, 404, 404]
    assert [_limits(r)[:2] for r in assets] == [(3, 2), (3, 1), (3, 0)]
    refused = client.get("/v1/media/nothing/here.jpg")
    assert refused.status_code == 429 and "ip-assets 'testclient'" in refused.json()["detail"]
    # the API's quota is untouched by them, and charges as before
    assert [_limits(client.get("/demo/items?limit=1"))[:2] for _ in range(2)] == [(2, 1), (2, 0)]
    assert client.get("/demo/items?limit=1").status_code == 429
    # a write to those paths is not an asset read: the API's quota (spent) answers it
    assert client.post("/v1/media/nothing/here.jpg").status_code == 429


def test_limits_from_the_settings_and_bad_values_named() -> None:
    assert HttpLimits.from_settings(Settings.from_env({})) == HttpLimits()
    env = {
        "DARKROOM_HTTP_RATE_PER_IP": " 5000/60 ",
        "DARKROOM_HTTP_RATE_PER_ACCOUNT": "1/0.5",
        "DARKROOM_HTTP_RATE_ASSETS_PER_IP": "100/1",
    }
    limits = HttpLimits.from_settings(Settings.from_env(env))
    assert limits.per_ip == Rate(5000, 60.0) and limits.per_account == Rate(1, 0.5)
    assert limits.per_ip_assets == Rate(100, 1.0)
    for bad in ("300", "x/300", "0/300", "300/0", "300/-1", "/"):
        with pytest.raises(ConfigError, match=f"DARKROOM_HTTP_RATE_PER_IP={re.escape(repr(bad))} must be LIMIT/"):
            HttpLimits.from_settings(Settings(http_rate_per_ip=bad))
