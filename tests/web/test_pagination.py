"""Cursor pages: limit 1-100 (101 is a 400 naming it), Link + next_cursor, forged cursors, fields=."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from darkroom.api.cursors import CursorCodec
from tests.web.conftest import ITEMS


def test_pages_walk_the_whole_list_with_link_and_next_cursor(client: TestClient) -> None:
    url, seen, pages = "/demo/items?limit=100&fields=id", [], 0
    while url:
        response = client.get(url)
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        seen += [item["id"] for item in body["items"]]
        assert all(set(item) == {"id"} for item in body["items"])  # fields= applies to each item
        pages += 1
        if body["next_cursor"] is None:
            assert "link" not in response.headers
            url = ""
        else:
            link = response.headers["link"]
            assert link.endswith('>; rel="next"')
            target = httpx.URL(link[1 : link.index(">")])
            assert target.params["cursor"] == body["next_cursor"] and target.params["fields"] == "id"
            url = f"{target.path}?{target.query.decode()}"
    assert seen == ITEMS and pages == 3


@pytest.mark.parametrize(("limit", "count"), [(None, 20), ("1", 1), ("100", 100)])
def test_limits_up_to_100(client: TestClient, limit: str | None, count: int) -> None:
    params = {} if limit is None else {"limit": limit}
    assert len(client.get("/demo/items", params=params).json()["items"]) == count


@pytest.mark.parametrize("limit", ["101", "0", "-1", "1000000", "ten"])
def test_a_limit_out_of_range_is_400_naming_it(client: TestClient, limit: str) -> None:
    response = client.get("/demo/items", params={"limit": limit})
    assert response.status_code == 400 and response.json()["code"] == "invalid_input"
    assert response.json()["field"] == "limit" and f"'{limit}'" in response.json()["detail"]


def _problem(response: Any, code: str, field: str) -> str:
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code and response.json()["field"] == field
    detail: str = response.json()["detail"]
    return detail


def test_a_forged_cursor_is_refused_naming_it(client: TestClient) -> None:
    real = client.get("/demo/items?limit=2").json()["next_cursor"]
    forged = CursorCodec(b"f" * 32).encode({"after": "0200"}, list_name="items")
    raw = base64.urlsafe_b64decode(real + "=" * (-len(real) % 4))
    tampered = base64.urlsafe_b64encode(raw.replace(b'"0001"', b'"0200"')).rstrip(b"=").decode()
    for bad in (forged, tampered, real[:-4], "garbage!"):
        detail = _problem(client.get("/demo/items", params={"cursor": bad}), "invalid_cursor", "cursor")
        assert repr(bad[:20]).rstrip("'") in detail
    # a cursor of one list is refused by another
    detail = _problem(client.get("/demo/other-list", params={"cursor": real}), "invalid_cursor", "cursor")
    assert "another list" in detail


@pytest.mark.parametrize(
    ("fields", "named"),
    [("bogus", "'bogus'"), ("id,bogus,caption", "'bogus'"), ("author.nope", "'nope'"), ("media.kind", "'media'")],
)
def test_an_unknown_field_path_is_400_naming_it(client: TestClient, fields: str, named: str) -> None:
    detail = _problem(client.get("/demo/items", params={"fields": fields}), "invalid_field_mask", "fields")
    assert named in detail


def test_fields_star_and_empty_select_everything(client: TestClient) -> None:
    for fields in ("*", ""):
        item = client.get("/demo/items", params={"limit": 1, "fields": fields}).json()["items"][0]
        assert set(item) == {"id", "caption"}
