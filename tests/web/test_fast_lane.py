"""The edge's fast lane (``web/fast_lane.py``): ``GET /v1/feed`` and ``GET /v1/posts/{id}`` answer
byte for byte as the FastAPI routes do, whatever the request (errors, masks, cursors, 304s, gzip),
and the lane takes only the requests it can answer so; the others go the long way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.responses import Response
from starlette.types import Scope

from darkroom.social.feed import FeedDesign
from darkroom.web import fast_lane
from darkroom.web.app import create_app
from darkroom.web.main import DatabaseAuthenticator
from tests.web.real_app import SECRET, web_deps
from tests.web.social_app import PostsApp, User, open_app

# what differs between two answers of the same request: when and which one it was, and the quota
_VOLATILE = {"date", "x-request-id", "ratelimit-remaining", "ratelimit-reset"}


@dataclass
class Lanes:
    """One world (``social``: the lane on), and a second app over the same dependencies without it."""

    social: PostsApp
    long_way: TestClient
    outcomes: list[str]  # "served" / "declined", one per request the lane looked at


@pytest.fixture
def lanes(
    db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lanes]:
    outcomes: list[str] = []
    serve = fast_lane.FastLane.serve

    def recorded(self: fast_lane.FastLane, route: fast_lane.LaneRoute, scope: Scope) -> Response | None:
        answer = serve(self, route, scope)
        outcomes.append("declined" if answer is None else "served")
        return answer

    monkeypatch.setattr(fast_lane.FastLane, "serve", recorded)
    with open_app(db_engine, redis_client, tmp_path) as social:
        deps = web_deps(
            db_engine, redis_client, tmp_path, authenticator=DatabaseAuthenticator(db_engine, redis_client),
            secret=SECRET, feed_design=FeedDesign.HYBRID,
        )  # fmt: skip
        with TestClient(create_app(deps, fast_lane=False)) as long_way:
            yield Lanes(social, long_way, outcomes)


def _same(lanes: Lanes, path: str, headers: dict[str, str], expect: str) -> int:
    """Ask both apps; assert equal answers and the lane's ``expect``ed outcome; the status."""
    lanes.outcomes.clear()
    fast = lanes.social.client.get(path, headers=headers)
    assert lanes.outcomes == [expect], (path, lanes.outcomes)
    slow = lanes.long_way.get(path, headers=headers)
    assert lanes.outcomes == [expect]  # the long way's app has no lane
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content), path
    shown = {k: v for k, v in fast.headers.items() if k not in _VOLATILE}
    assert shown == {k: v for k, v in slow.headers.items() if k not in _VOLATILE}, path
    assert "ratelimit-limit" in fast.headers  # the edge's headers on the lane's answers too
    status: int = fast.status_code
    return status


@pytest.fixture
def world(lanes: Lanes) -> tuple[User, User, list[str], str]:
    """A reader following a public author with 30 posts, and a private author's post."""
    app = lanes.social
    author, hidden, reader = app.member("author"), app.member("hidden", private=True), app.member("reader")
    app.follow(reader, author)
    made = [app.post(author, f"post {i} #sun <b>bold</b>") for i in range(30)]
    secret = app.post(hidden, "mine")
    app.fan_out(*(app.ready(author, p) for p in made))
    return reader, author, made, secret


def test_the_feed_answers_as_the_route_does(lanes: Lanes, world: tuple[User, User, list[str], str]) -> None:
    reader, _, made, _ = world
    auth = reader.auth
    assert _same(lanes, "/v1/feed", auth, "served") == 200
    first = lanes.social.client.get("/v1/feed?limit=100", headers=auth).json()
    assert [p["id"] for p in first["items"]] == made[::-1]
    page = lanes.social.client.get("/v1/feed?limit=7", headers=auth).json()
    assert _same(lanes, f"/v1/feed?limit=7&cursor={page['next_cursor']}", auth, "served") == 200
    assert _same(lanes, "/v1/feed?limit=1&fields=id,caption", auth, "served") == 200
    assert _same(lanes, "/v1/feed?limit=100", auth, "served") == 200  # the largest page
    assert _same(lanes, "/v1/feed?fields=", auth, "served") == 200
    assert _same(lanes, "/v1/feed", {**auth, "Accept-Encoding": "gzip"}, "served") == 200
    tag = lanes.social.client.get("/v1/feed", headers=auth).headers["ETag"]
    assert _same(lanes, "/v1/feed", {**auth, "If-None-Match": tag}, "served") == 304
    # errors the route raises: the same problems
    assert _same(lanes, "/v1/feed", {}, "served") == 401
    assert _same(lanes, "/v1/feed?fields=nope", auth, "served") == 400
    assert _same(lanes, "/v1/feed?cursor=garbled", auth, "served") == 400
    # what only FastAPI's parsing answers: declined, and answered the long way
    for query in ("limit=0", "limit=101", "limit=abc", "limit=", "limit=05", "limit=1&limit=2", "page=2"):
        assert _same(lanes, f"/v1/feed?{query}", auth, "declined") in (200, 400), query


def test_a_post_answers_as_the_route_does(lanes: Lanes, world: tuple[User, User, list[str], str]) -> None:
    reader, author, made, secret = world
    assert _same(lanes, f"/v1/posts/{made[0]}", reader.auth, "served") == 200
    assert _same(lanes, f"/v1/posts/{made[0]}", {}, "served") == 200  # public: anyone
    assert _same(lanes, f"/v1/posts/{made[0]}?fields=id,like_count", author.auth, "served") == 200
    assert _same(lanes, f"/v1/posts/{made[0]}?fields=author.bogus", reader.auth, "served") == 400
    assert _same(lanes, f"/v1/posts/{secret}", reader.auth, "served") == 404  # private, not followed
    assert _same(lanes, "/v1/posts/01ARZ3NDEKTSV4RRFFQ69G5FAV", reader.auth, "served") == 404
    assert _same(lanes, "/v1/posts/not-an-id", reader.auth, "served") == 400
    assert _same(lanes, f"/v1/posts/{made[0]}?limit=3", reader.auth, "declined") == 200
    tag = lanes.social.client.get(f"/v1/posts/{made[0]}", headers=reader.auth).headers["ETag"]
    assert _same(lanes, f"/v1/posts/{made[0]}", {**reader.auth, "If-None-Match": tag}, "served") == 304


def test_the_lane_keeps_to_its_two_reads(lanes: Lanes, world: tuple[User, User, list[str], str]) -> None:
    reader, _, made, _ = world
    client = lanes.social.client
    lanes.outcomes.clear()
    head = client.head(f"/v1/posts/{made[0]}", headers=reader.auth).status_code
    assert head == lanes.long_way.head(f"/v1/posts/{made[0]}", headers=reader.auth).status_code
    assert client.get(f"/v1/posts/{made[0]}/likes", headers=reader.auth).status_code == 200
    assert client.get("/v1/feed/", headers=reader.auth, follow_redirects=False).status_code == 307
    assert client.put(f"/v1/posts/{made[0]}/like", headers=reader.auth).status_code in (200, 201, 204)
    assert lanes.outcomes == []  # none of them was even looked at


def test_a_refused_request_never_reaches_the_lane(lanes: Lanes) -> None:
    lanes.outcomes.clear()
    for header in ("Basic abc", "Bearer nope"):  # malformed, unknown: the edge answers both
        answer = lanes.social.client.get("/v1/feed", headers={"Authorization": header})
        assert answer.status_code == 401 and lanes.outcomes == [], header


def test_views_are_counted_once_per_post_shown(lanes: Lanes, world: tuple[User, User, list[str], str]) -> None:
    reader, _, made, _ = world
    before = len(lanes.social.views())
    assert lanes.social.client.get("/v1/feed?limit=3", headers=reader.auth).status_code == 200
    assert lanes.social.client.get(f"/v1/posts/{made[0]}", headers=reader.auth).status_code == 200
    views = lanes.social.views()[before:]
    assert sorted(v["post_id"] for v in views) == sorted([*made[::-1][:3], made[0]])
