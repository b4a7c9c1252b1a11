"""The posts' JSON memo (``WebDeps.post_json``, ``api/json_memo.py``) on the read routes: a post
whose JSON is remembered still shows an edit, a delete, a new like count, the reader's own like, a
block and a switch to private at once, on the feed and on ``GET /v1/posts/{id}``; masks still apply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from darkroom.api.json_memo import JsonMemo
from darkroom.social.counters import CountersHandler
from darkroom.social.events import Event, EventType
from darkroom.storage.schema import accounts
from tests.web.social_app import PostsApp, User, open_app

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[PostsApp]:
    with open_app(db_engine, redis_client, tmp_path) as social:
        yield social


def _memo(app: PostsApp) -> JsonMemo:
    memo: JsonMemo = app.client.app.state.deps.post_json
    return memo


def _feed_post(app: PostsApp, reader: User, post_id: str, **params: Any) -> dict[str, Any] | None:
    return next((p for p in app.items("/v1/feed", reader, **params) if p.get("id", post_id) == post_id), None)


def _warm(app: PostsApp, reader: User, post_id: str) -> dict[str, Any]:
    """Read the post twice on the feed and once alone: the second feed read is the memo's."""
    first = _feed_post(app, reader, post_id)
    hits = _memo(app).hits
    assert first is not None and _feed_post(app, reader, post_id) == first
    assert _memo(app).hits > hits  # the same post, the same bytes: remembered
    assert app.client.get(f"/v1/posts/{post_id}", headers=reader.auth).json() == first
    return first


def _pair(app: PostsApp) -> tuple[User, User, str]:
    alice = app.member("alice")
    reader = app.member("reader")
    app.follow(reader, alice)
    return alice, reader, app.post(alice, "before")


def test_an_edit_shows_at_once(app: PostsApp) -> None:
    alice, reader, post_id = _pair(app)
    assert _warm(app, reader, post_id)["caption"] == "before"
    edited = app.client.patch(
        f"/v1/posts/{post_id}", params={"update_mask": "caption"}, json={"caption": "after"}, headers=alice.auth
    )
    assert edited.status_code == 200, edited.text
    assert (_feed_post(app, reader, post_id) or {})["caption"] == "after"
    assert app.client.get(f"/v1/posts/{post_id}", headers=reader.auth).json()["caption"] == "after"


def test_a_delete_is_a_404_and_gone_from_the_feed(app: PostsApp) -> None:
    alice, reader, post_id = _pair(app)
    _warm(app, reader, post_id)
    assert app.client.delete(f"/v1/posts/{post_id}", headers=alice.auth).status_code == 204
    assert _feed_post(app, reader, post_id) is None
    assert app.client.get(f"/v1/posts/{post_id}", headers=reader.auth).status_code == 404


def test_a_like_changes_the_count_and_only_the_likers_liked_by_me(app: PostsApp) -> None:
    alice, reader, post_id = _pair(app)
    other = app.member("other")
    app.follow(other, alice)
    assert _warm(app, reader, post_id)["like_count"] == 0
    _warm(app, other, post_id)
    assert app.client.put(f"/v1/posts/{post_id}/like", headers=reader.auth).status_code == 204
    CountersHandler(app.engine, app.redis).handle([Event(EventType.POST_LIKED, reader.id, post_id)])
    mine, theirs = _feed_post(app, reader, post_id) or {}, _feed_post(app, other, post_id) or {}
    assert (mine["like_count"], mine["liked_by_me"]) == (1, True)
    assert (theirs["like_count"], theirs["liked_by_me"]) == (1, False)
    alone = app.client.get(f"/v1/posts/{post_id}", headers=other.auth).json()
    assert (alone["like_count"], alone["liked_by_me"]) == (1, False)


def test_a_block_hides_the_post_from_the_blocked_reader(app: PostsApp) -> None:
    alice, reader, post_id = _pair(app)
    _warm(app, reader, post_id)
    app.block(alice, reader)
    assert _feed_post(app, reader, post_id) is None
    assert app.client.get(f"/v1/posts/{post_id}", headers=reader.auth).status_code == 404


def test_going_private_hides_the_post_from_strangers_and_signs_for_followers(app: PostsApp) -> None:
    alice, reader, post_id = _pair(app)
    stranger = app.member("stranger")
    whole = _warm(app, reader, post_id)
    assert app.client.get(f"/v1/posts/{post_id}", headers=stranger.auth).status_code == 200
    with app.engine.begin() as conn:  # what PATCH /v1/accounts/me does, without the cache's help
        conn.execute(sa.update(accounts).where(accounts.c.id == alice.id).values(private=True))
    assert app.client.get(f"/v1/posts/{post_id}", headers=stranger.auth).status_code == 404
    now = _feed_post(app, reader, post_id) or {}
    assert now["author"]["private"] is True and now != whole  # a follower still sees it, as private


def test_masks_still_apply(app: PostsApp) -> None:
    _, reader, post_id = _pair(app)
    _warm(app, reader, post_id)
    for _ in range(2):  # the second answer is the memo's
        assert app.items("/v1/feed", reader, fields="caption,like_count") == [{"caption": "before", "like_count": 0}]
        alone = app.client.get(f"/v1/posts/{post_id}", params={"fields": "id,liked_by_me"}, headers=reader.auth)
        assert alone.json() == {"id": post_id, "liked_by_me": False}
