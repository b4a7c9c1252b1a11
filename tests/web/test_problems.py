"""Every error of the app is application/problem+json (RFC 9457) with a stable code, and the
OpenAPI document says so."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import bearer

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "instance"}


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == status and body["code"] == code
    assert body["type"] == f"tag:darkroom,2025:problem:{code}"
    return body


def test_a_domain_error_by_its_code(client: TestClient) -> None:
    body = _problem(client.get("/demo/missing"), 404, "not_found")
    assert body == {
        "type": "tag:darkroom,2025:problem:not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "post '42' does not exist",
        "code": "not_found",
        "field": "id",
        "instance": "/demo/missing",
    }


def test_sign_in_required_is_401_with_a_challenge(client: TestClient) -> None:
    response = client.get("/demo/me")
    _problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == 'Bearer realm="darkroom"'


@pytest.mark.parametrize(
    ("request_args", "field", "shown"),
    [
        ({"url": "/demo/big?n=abc"}, "n", "'abc'"),
        ({"url": "/demo/big"}, "n", "query parameter 'n'"),
        ({"url": "/demo/media"}, "content_type", "query parameter 'content_type'"),
    ],
)
def test_invalid_input_is_400_naming_the_field_and_value(
    client: TestClient, request_args: dict[str, str], field: str, shown: str
) -> None:
    body = _problem(client.get(**request_args), 400, "invalid_input")
    assert body["field"] == field and shown in body["detail"]
    assert body["errors"][0]["field"] == field


def test_a_body_that_is_not_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/demo/posts", content=b"{not json", headers={"Content-Type": "application/json", **bearer()}
    )
    body = _problem(response, 400, "invalid_input")
    assert body["field"] == "body" and body["detail"].startswith("the body is not valid JSON at character 1")
    response = client.post("/demo/posts", json=[1, 2], headers=bearer())
    body = _problem(response, 400, "invalid_input")
    assert body["field"] == "body" and body["detail"] == "the body = [1, 2]: Input should be a valid dictionary"


def test_unknown_routes_and_methods(client: TestClient) -> None:
    body = _problem(client.get("/v1/nothing-here"), 404, "not_found")
    assert body["detail"] == "no route GET /v1/nothing-here"
    response = client.put("/demo/me")
    _problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_an_unexpected_error_is_500_without_internals(make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR):
        response = client.get("/demo/boom")
    body = _problem(response, 500, "internal")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert body["detail"].startswith("internal error (incident ")


def test_openapi_documents_problems_and_fields(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail", "code"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            for status in ("4XX", "5XX"):
                content = responses[status]["content"]
                assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    items = {p["name"]: p for p in spec["paths"]["/demo/items"]["get"]["parameters"]}
    assert "read mask" not in items["fields"]["description"]
    assert "partial response" in items["fields"]["description"] and "caption" in items["fields"]["description"]
    assert items["limit"]["schema"]["maximum"] == 100 and items["limit"]["schema"]["default"] == 20
