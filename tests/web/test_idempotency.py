"""Idempotency-Key on every POST: replay, 422 for another body, 409 while running; what is not kept."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Demo, bearer, csrf


def _post(client: TestClient, url: str, body: Any, key: str | None = "key-1", **headers: str) -> Any:
    extra = {"Idempotency-Key": key} if key is not None else {}
    return client.post(url, json=body, headers={**bearer(), **extra, **headers})


def test_the_same_key_and_body_replays_the_first_answer(client: TestClient, demo: Demo) -> None:
    first = _post(client, "/demo/posts", {"caption": "hi"})
    again = _post(client, "/demo/posts", {"caption": "hi"})
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert len(demo.created) == 1


def test_the_same_key_with_another_request_is_422(client: TestClient, demo: Demo) -> None:
    assert _post(client, "/demo/posts", {"caption": "hi"}).status_code == 201
    for url, body in (("/demo/posts", {"caption": "ho"}), ("/demo/slow", {"caption": "hi"})):
        response = _post(client, url, body)
        assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
        assert response.json()["field"] == "Idempotency-Key" and "'key-1'" in response.json()["detail"]
    assert len(demo.created) == 1


def test_a_retry_while_the_first_runs_is_409(client: TestClient, demo: Demo) -> None:
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(_post(client, "/demo/slow", {"n": 1})))
    first.start()
    try:
        assert demo.started.wait(30)
        busy = _post(client, "/demo/slow", {"n": 1})
        assert busy.status_code == 409 and busy.json()["code"] == "idempotency_key_in_use"
    finally:
        demo.release.set()
        first.join(30)
    assert answers[0].status_code == 201
    replay = _post(client, "/demo/slow", {"n": 1})
    assert replay.json() == answers[0].json() == {"n": 1} and len(demo.created) == 1


def test_keys_belong_to_their_client(client: TestClient, demo: Demo) -> None:
    assert _post(client, "/demo/posts", {"caption": "hi"}).status_code == 201
    other = client.post(
        "/demo/posts", json={"caption": "hi"}, headers={**bearer("bob-token"), "Idempotency-Key": "key-1"}
    )
    anonymous = client.post("/demo/posts", json={"caption": "hi"}, headers={"Idempotency-Key": "key-1"})
    assert other.json()["by"] == "bob" and anonymous.json()["by"] is None
    assert "idempotent-replayed" not in other.headers and len(demo.created) == 3


def test_without_a_key_every_post_runs(client: TestClient, demo: Demo) -> None:
    for _ in range(2):
        assert _post(client, "/demo/posts", {"caption": "hi"}, key=None).status_code == 201
    assert len(demo.created) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey"])
def test_a_bad_key_is_400_and_runs_nothing(client: TestClient, demo: Demo, key: str) -> None:
    response = _post(client, "/demo/posts", {"caption": "hi"}, key=key)
    assert response.status_code == 400 and response.json()["code"] == "invalid_idempotency_key"
    assert demo.created == []


def test_the_longest_key(client: TestClient, demo: Demo) -> None:
    for _ in range(2):
        assert _post(client, "/demo/posts", {"caption": "hi"}, key="k" * 255).status_code == 201
    assert len(demo.created) == 1


def test_server_errors_and_credentials_are_not_kept(make_client: Any, demo: Demo) -> None:
    client: TestClient = make_client(raise_server_exceptions=False)
    for _ in range(2):
        assert _post(client, "/demo/fail", {"x": 1}).status_code == 500
    assert len(demo.created) == 2  # the retry ran again
    tokens = [_post(client, "/demo/credentials", {"x": 1}, key="cred").json()["token"] for _ in range(2)]
    assert tokens == ["t3", "t4"]  # Cache-Control: no-store: never replayed from Redis
    # a refused request (CSRF, here) is not kept either: fixing it and retrying runs it
    cookie = {"Cookie": "darkroom_session=alice-session", "Idempotency-Key": "c"}
    assert client.post("/demo/posts", json={"a": 1}, headers=cookie).status_code == 403
    assert client.post("/demo/posts", json={"a": 1}, headers={**cookie, "X-CSRF-Token": csrf()}).status_code == 201


def test_a_large_body_reaches_the_route_whole_and_is_fingerprinted(client: TestClient, demo: Demo) -> None:
    big = {"caption": "é" * (1 << 20), "n": 1}  # 2 MiB of UTF-8: past the in-memory spool
    assert _post(client, "/demo/upload", big, key="big").json() == {"chars": 1 << 20}
    assert demo.created == [big]
    changed = orjson.loads(orjson.dumps(big))
    changed["n"] = 2  # one value at the very end of a 2 MiB body
    assert _post(client, "/demo/upload", changed, key="big").status_code == 422
    assert _post(client, "/demo/upload", big, key="big").headers["idempotent-replayed"] == "true"
    assert len(demo.created) == 1


def test_an_answer_over_the_size_limit_is_not_kept(client: TestClient, demo: Demo) -> None:
    big = {"caption": "x" * (1 << 20)}  # echoed back: an answer over 1 MiB
    for _ in range(2):
        response = _post(client, "/demo/posts", big, key="echo")
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert len(demo.created) == 2
