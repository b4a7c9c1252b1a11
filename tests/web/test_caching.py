"""ETag + If-None-Match -> 304 on reads, If-Match -> 412 on writes, Cache-Control on both."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import bearer


def test_a_read_carries_its_tag_and_policy_and_revalidates_to_304(client: TestClient) -> None:
    first = client.get("/demo/posts/1")
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('"') and first.headers["cache-control"] == "private, no-cache"
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = client.get("/demo/posts/1", headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b"" and again.headers["etag"] == tag
        assert again.headers["cache-control"] == "private, no-cache"
    assert client.get("/demo/posts/1", headers={"If-None-Match": '"other"'}).status_code == 200


def test_another_read_mask_is_another_representation(client: TestClient) -> None:
    whole = client.get("/demo/posts/1").headers["etag"]
    masked = client.get("/demo/posts/1?fields=id").headers["etag"]
    assert whole != masked
    assert client.get("/demo/posts/1?fields=id", headers={"If-None-Match": whole}).status_code == 200


def test_a_malformed_condition_is_400_naming_it(client: TestClient) -> None:
    response = client.get("/demo/posts/1", headers={"If-None-Match": "not-quoted"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_precondition"
    assert response.json()["field"] == "If-None-Match" and "'not-quoted'" in response.json()["detail"]


def test_a_write_with_a_stale_tag_is_412_and_changes_nothing(client: TestClient) -> None:
    tag = client.get("/demo/posts/1").headers["etag"]
    assert client.patch("/demo/posts/1", headers={**bearer(), "If-Match": tag}).json()["caption"] == "v2"
    stale = client.patch("/demo/posts/1", headers={**bearer(), "If-Match": tag})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["code"] == "precondition_failed" and stale.json()["field"] == "If-Match"
    assert client.get("/demo/posts/1").json()["caption"] == "v2"
    # a weak tag never passes If-Match (strong comparison); a fresh one does; no If-Match: no condition
    fresh = client.get("/demo/posts/1").headers["etag"]
    assert client.patch("/demo/posts/1", headers={**bearer(), "If-Match": f"W/{fresh}"}).status_code == 412
    assert client.patch("/demo/posts/1", headers={**bearer(), "If-Match": fresh}).status_code == 200
    assert client.patch("/demo/posts/1", headers=bearer()).status_code == 200


def test_a_stale_if_match_on_a_read_is_412(client: TestClient) -> None:
    assert client.get("/demo/posts/1", headers={"If-Match": '"stale"'}).status_code == 412
