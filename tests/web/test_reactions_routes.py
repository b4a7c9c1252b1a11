"""Likes and comments over HTTP on the real app: idempotent likes, comment text at its limit,
who may delete a comment, masks on the lists, list-bound cursors, limits, hidden posts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from darkroom.social.events import EventType
from darkroom.storage.schema import comments, likes
from tests.social import people
from tests.web.social_app import PostsApp, open_app

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[PostsApp]:
    with open_app(db_engine, redis_client, tmp_path) as social:
        yield social


def test_a_like_is_idempotent_and_listed(app: PostsApp) -> None:
    alice, bob = app.member("alice"), app.member("bob")
    post_id = app.post(alice, "like me")
    for _ in range(2):
        liked = app.client.put(f"/v1/posts/{post_id}/like", headers=bob.auth)
        assert liked.status_code == 204 and not liked.content
    assert people.count(app.engine, likes) == 1
    assert len(people.events(app.engine, EventType.POST_LIKED)) == 1  # the second PUT changed nothing
    listed = app.client.get(f"/v1/posts/{post_id}/likes")
    assert [item["account"]["handle"] for item in listed.json()["items"]] == ["bob"]
    assert listed.json()["next_cursor"] is None and "Link" not in listed.headers
    assert app.client.get(f"/v1/posts/{post_id}", headers=bob.auth).json()["liked_by_me"]
    for _ in range(2):
        assert app.client.delete(f"/v1/posts/{post_id}/like", headers=bob.auth).status_code == 204
    assert people.count(app.engine, likes) == 0 and app.items(f"/v1/posts/{post_id}/likes") == []
    assert app.client.put(f"/v1/posts/{post_id}/like").status_code == 401


@SQLITE
def test_likes_pages_masks_and_cursors_bound_to_their_post(app: PostsApp) -> None:
    alice = app.member("alice")
    first, second = app.post(alice, "one"), app.post(alice, "two")
    fans = [app.member(f"fan{i}") for i in range(5)]
    for fan in fans:
        app.client.put(f"/v1/posts/{first}/like", headers=fan.auth)
    page = app.client.get(f"/v1/posts/{first}/likes", params={"limit": 2, "fields": "account.handle"})
    assert page.json()["items"] == [{"account": {"handle": "fan4"}}, {"account": {"handle": "fan3"}}]
    cursor = page.json()["next_cursor"]
    assert f"cursor={cursor}" in page.headers["Link"] and page.headers["Link"].endswith('rel="next"')
    rest = app.client.get(f"/v1/posts/{first}/likes", params={"limit": 2, "cursor": cursor, "fields": "account.handle"})
    assert [i["account"]["handle"] for i in rest.json()["items"]] == ["fan2", "fan1"]
    foreign = app.client.get(f"/v1/posts/{second}/likes", params={"cursor": cursor})
    assert foreign.status_code == 400 and foreign.json()["code"] == "invalid_cursor"
    assert foreign.json()["field"] == "cursor"
    tampered = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    assert app.client.get(f"/v1/posts/{first}/likes", params={"cursor": tampered}).status_code == 400
    assert len(app.items(f"/v1/posts/{first}/likes", limit=100)) == 5
    too_many = app.client.get(f"/v1/posts/{first}/likes", params={"limit": 101})
    assert too_many.status_code == 400 and too_many.json()["field"] == "limit" and "101" in too_many.json()["detail"]
    times = app.items(f"/v1/posts/{first}/likes", fields="created_at")
    assert all(set(item) == {"created_at"} for item in times)


@SQLITE
def test_comments_at_1000_characters_and_markup_stay_text(app: PostsApp) -> None:
    alice, bob = app.member("alice"), app.member("bob")
    post_id = app.post(alice, "talk")
    text = "<b>bold</b> & " + "x" * 986
    made = app.client.post(f"/v1/posts/{post_id}/comments", json={"text": text}, headers=bob.auth)
    assert made.status_code == 201, made.text
    assert made.json()["text"] == text and made.json()["author"]["handle"] == "bob"
    for bad, field in ((text + "y", "text"), ("   ", "text")):
        refused = app.client.post(f"/v1/posts/{post_id}/comments", json={"text": bad}, headers=bob.auth)
        assert refused.status_code == 400 and refused.json()["field"] == field
    assert (
        "1001"
        in app.client.post(f"/v1/posts/{post_id}/comments", json={"text": text + "y"}, headers=bob.auth).json()[
            "detail"
        ]
    )
    unknown = app.client.post(f"/v1/posts/{post_id}/comments", json={"text": "hi", "reply_to": "x"}, headers=bob.auth)
    assert unknown.status_code == 400 and unknown.json()["field"] == "reply_to"
    assert people.count(app.engine, comments) == 1
    (shown,) = app.items(f"/v1/posts/{post_id}/comments")
    assert shown["text"] == text and shown["post_id"] == post_id


def test_the_posts_author_may_delete_someone_elses_comment_a_stranger_may_not(app: PostsApp) -> None:
    alice, bob, carol = app.member("alice"), app.member("bob"), app.member("carol")
    post_id = app.post(alice, "mine")
    comment = app.client.post(f"/v1/posts/{post_id}/comments", json={"text": "rude"}, headers=bob.auth).json()
    refused = app.client.delete(f"/v1/comments/{comment['id']}", headers=carol.auth)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert app.client.delete(f"/v1/comments/{comment['id']}", headers=alice.auth).status_code == 204
    assert app.items(f"/v1/posts/{post_id}/comments") == []
    assert app.client.delete(f"/v1/comments/{comment['id']}", headers=alice.auth).status_code == 404
    own = app.client.post(f"/v1/posts/{post_id}/comments", json={"text": "sorry"}, headers=bob.auth).json()
    assert app.client.delete(f"/v1/comments/{own['id']}", headers=bob.auth).status_code == 204


@SQLITE
def test_comments_page_oldest_first_with_masks(app: PostsApp) -> None:
    alice = app.member("alice")
    post_id = app.post(alice, "thread")
    for i in range(5):
        app.client.post(f"/v1/posts/{post_id}/comments", json={"text": f"c{i}"}, headers=alice.auth)
    url = f"/v1/posts/{post_id}/comments"
    pages = app.all_pages(url, None, 2)
    ids = [i for page in pages for i in page]
    assert [len(p) for p in pages] == [2, 2, 1] and ids == sorted(ids)  # oldest first
    assert app.items(url, fields="text", limit=100) == [{"text": f"c{i}"} for i in range(5)]
    assert app.items(url, fields="author.handle", limit=1) == [{"author": {"handle": "alice"}}]
    refused = app.client.get(url, params={"fields": "author.nope"})
    assert refused.status_code == 400 and "author.nope" in refused.json()["detail"]


@SQLITE
def test_a_private_accounts_post_has_no_likes_or_comments_for_strangers(app: PostsApp) -> None:
    hidden, stranger = app.member("hidden", private=True), app.member("stranger")
    post_id = app.post(hidden, "secret")
    for path in ("likes", "comments"):
        assert app.client.get(f"/v1/posts/{post_id}/{path}", headers=stranger.auth).status_code == 404
        assert app.client.get(f"/v1/posts/{post_id}/{path}").status_code == 404
        assert app.client.get(f"/v1/posts/{post_id}/{path}", headers=hidden.auth).status_code == 200
    assert app.client.put(f"/v1/posts/{post_id}/like", headers=stranger.auth).status_code == 404
    refused = app.client.post(f"/v1/posts/{post_id}/comments", json={"text": "hi"}, headers=stranger.auth)
    assert refused.status_code == 404
    assert people.count(app.engine, likes) == people.count(app.engine, comments) == 0
