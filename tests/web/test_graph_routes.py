"""Follows, follow requests and blocks over HTTP, and the follower lists' pages; on the real app
(DatabaseAuthenticator, real Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from tests.social.rows import make_account, make_follow
from tests.web.real_app import SocialApp, social_app

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[SocialApp]:
    with social_app(db_engine, redis_client, tmp_path) as made:
        yield made


def _handles(app: SocialApp, url: str, headers: dict[str, str] | None = None) -> list[str]:
    response = app.client.get(url, params={"fields": "handle"}, headers=headers or {})
    assert response.status_code == 200, response.text
    return [item["handle"] for item in response.json()["items"]]


@sqlite_only
def test_following_a_public_account_lists_it_both_ways_until_unfollowed(app: SocialApp) -> None:
    alice, bob = app.join("alice"), app.join("bob")
    assert app.client.post("/v1/accounts/bob/follow", headers=alice.bearer).json() == {"state": "active"}
    assert app.client.post("/v1/accounts/bob/follow", headers=alice.bearer).json() == {"state": "active"}
    assert _handles(app, "/v1/accounts/bob/followers") == ["alice"]
    assert _handles(app, "/v1/accounts/alice/following") == ["bob"]
    as_bob = app.client.get("/v1/accounts/bob/followers?fields=handle,follows_me", headers=bob.bearer)
    assert as_bob.json()["items"] == [{"handle": "alice", "follows_me": True}]
    assert (
        as_bob.headers["cache-control"] == "private, no-cache"
        and as_bob.headers["vary"] == "Authorization, Cookie, Accept-Encoding"
    )
    assert app.client.delete("/v1/accounts/bob/follow", headers=alice.bearer).status_code == 204
    assert app.client.delete("/v1/accounts/bob/follow", headers=alice.bearer).status_code == 204
    assert _handles(app, "/v1/accounts/bob/followers") == []
    myself = app.client.post("/v1/accounts/alice/follow", headers=alice.bearer)
    assert (myself.status_code, myself.json()["field"]) == (400, "handle")
    assert app.client.post("/v1/accounts/nobody/follow", headers=alice.bearer).status_code == 404
    assert app.client.post("/v1/accounts/bob/follow").status_code == 401


def test_a_private_account_answers_follows_with_requests_and_hides_its_lists(app: SocialApp) -> None:
    alice, bob, carol = app.join("alice", private=True), app.join("bob"), app.join("carol")
    assert app.client.post("/v1/accounts/alice/follow", headers=bob.bearer).json() == {"state": "requested"}
    assert app.client.post("/v1/accounts/alice/follow", headers=carol.bearer).json() == {"state": "requested"}
    pending = app.client.get("/v1/follow-requests?fields=handle", headers=alice.bearer)
    assert pending.json() == {"items": [{"handle": "carol"}, {"handle": "bob"}], "next_cursor": None}
    assert app.client.get("/v1/follow-requests", headers=bob.bearer).json()["items"] == []
    as_bob = app.client.get("/v1/accounts/alice?fields=requested_by_me,followed_by_me", headers=bob.bearer)
    assert as_bob.json() == {"requested_by_me": True, "followed_by_me": False}

    # not a follower yet: the lists answer as if there were no such account (docs/social.md, Visibility)
    for who in (bob.bearer, carol.bearer, {}):
        for kind in ("followers", "following"):
            hidden = app.client.get(f"/v1/accounts/alice/{kind}", headers=who)
            assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert app.client.get("/v1/accounts/alice").status_code == 200  # the profile itself is public

    assert app.client.post("/v1/follow-requests/bob/accept", headers=alice.bearer).status_code == 204
    assert app.client.post("/v1/follow-requests/carol/reject", headers=alice.bearer).status_code == 204
    again = app.client.post("/v1/follow-requests/carol/accept", headers=alice.bearer)
    assert again.status_code == 404  # rejected: nothing left to accept
    assert app.client.post("/v1/accounts/alice/follow", headers=bob.bearer).json() == {"state": "active"}
    assert _handles(app, "/v1/accounts/alice/followers", bob.bearer) == ["bob"]
    assert _handles(app, "/v1/accounts/alice/followers", alice.bearer) == ["bob"]
    assert app.client.get("/v1/accounts/alice/followers", headers=carol.bearer).status_code == 404
    assert app.client.get("/v1/follow-requests", headers=alice.bearer).json()["items"] == []
    assert app.client.get("/v1/follow-requests").status_code == 401


@sqlite_only
def test_a_block_hides_the_blocker_from_the_blocked(app: SocialApp) -> None:
    alice, bob = app.join("alice"), app.join("bob")
    assert app.client.post("/v1/accounts/alice/follow", headers=bob.bearer).status_code == 200
    assert app.client.post("/v1/accounts/bob/block", headers=alice.bearer).status_code == 204
    assert app.client.post("/v1/accounts/bob/block", headers=alice.bearer).status_code == 204

    hidden = app.client.get("/v1/accounts/alice", headers=bob.bearer)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert app.client.get("/v1/accounts/alice/followers", headers=bob.bearer).status_code == 404
    assert app.client.post("/v1/accounts/alice/follow", headers=bob.bearer).status_code == 404
    blocked = app.client.post("/v1/accounts/bob/follow", headers=alice.bearer)
    assert (blocked.status_code, blocked.json()["code"]) == (403, "blocked")
    # the blocker still reads whom it blocked, so it can unblock
    seen = app.client.get("/v1/accounts/bob?fields=handle,blocked_by_me", headers=alice.bearer)
    assert seen.json() == {"handle": "bob", "blocked_by_me": True}
    assert _handles(app, "/v1/accounts/alice/followers") == []  # the block removed bob's follow

    assert app.client.delete("/v1/accounts/bob/block", headers=alice.bearer).status_code == 204
    assert app.client.get("/v1/accounts/alice", headers=bob.bearer).status_code == 200
    assert _handles(app, "/v1/accounts/alice/followers") == []  # unblocking restores nothing


@sqlite_only
def test_follower_pages_at_the_limit_with_cursors_bound_to_their_list(app: SocialApp) -> None:
    alice = app.join("alice")
    with app.engine.begin() as conn:
        followers = [make_account(conn, f"fan{i:03d}") for i in range(101)]
        for fan in followers:
            make_follow(conn, fan, alice.id)
    first = app.client.get("/v1/accounts/alice/followers?limit=100&fields=handle")
    body = first.json()
    assert len(body["items"]) == 100 and body["items"][0] == {"handle": "fan100"}
    cursor = body["next_cursor"]
    assert (
        first.headers["link"]
        == f'<http://testserver/v1/accounts/alice/followers?limit=100&fields=handle&cursor={cursor}>; rel="next"'
    )
    second = app.client.get(first.links["next"]["url"]).json()
    assert second == {"items": [{"handle": "fan000"}], "next_cursor": None}

    too_many = app.client.get("/v1/accounts/alice/followers?limit=101")
    assert (too_many.status_code, too_many.json()["field"]) == (400, "limit")
    foreign = app.client.get(f"/v1/accounts/fan000/followers?cursor={cursor}")
    assert (foreign.status_code, foreign.json()["code"]) == (400, "invalid_cursor")
    following = app.client.get(f"/v1/accounts/alice/following?cursor={cursor}")
    assert following.status_code == 400 and "another list" in following.json()["detail"]
    broken = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    assert app.client.get(f"/v1/accounts/alice/followers?cursor={broken}").status_code == 400
    hand_made = app.client.get("/v1/accounts/alice/followers?cursor=azE6WzEuMCwiMDFKIl0")  # a raw domain cursor
    assert hand_made.status_code == 400 and hand_made.json()["field"] == "cursor"


@sqlite_only
def test_lists_answer_304_until_they_change(app: SocialApp) -> None:
    app.join("alice")
    bob = app.join("bob")
    first = app.client.get("/v1/accounts/alice/followers")
    tag = first.headers["etag"]
    assert app.client.get("/v1/accounts/alice/followers", headers={"If-None-Match": tag}).status_code == 304
    assert app.client.post("/v1/accounts/alice/follow", headers=bob.bearer).status_code == 200
    changed = app.client.get("/v1/accounts/alice/followers", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and len(changed.json()["items"]) == 1
