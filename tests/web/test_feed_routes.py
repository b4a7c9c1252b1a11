"""GET /v1/feed, /v1/accounts/{handle}/posts and /v1/tags/{tag}/posts on the real app: pages stable
while posts arrive (the fan-out consumer driven by hand), signed list-bound cursors, deleted and
hidden posts never shown, hydration cost, impressions, 304s, and no write lock on reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
import sqlalchemy as sa

from darkroom.social import keys
from darkroom.social.events import Event, EventType
from darkroom.social.feed import FeedDesign
from darkroom.storage.schema import accounts
from tests.social.statements import statements
from tests.web.social_app import PostsApp, User, open_app

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[PostsApp]:
    with open_app(db_engine, redis_client, tmp_path) as social:
        yield social


def _reader_of(app: PostsApp, *authors: User) -> User:
    reader = app.member("reader")
    for author in authors:
        app.follow(reader, author)
    return reader


def test_feed_pages_stay_put_while_a_new_post_arrives(app: PostsApp) -> None:
    alice, bob = app.member("alice"), app.member("bob")
    reader = _reader_of(app, alice, bob)
    made = [app.post(author, f"post {i}") for i in range(6) for author in (alice, bob)]
    newest_first = made[::-1]
    first = app.client.get("/v1/feed", params={"limit": 5}, headers=reader.auth)  # rebuilds the feed from SQL
    assert first.status_code == 200 and [p["id"] for p in first.json()["items"]] == newest_first[:5]
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert first.headers["Vary"].startswith("Authorization, Cookie")  # gzip adds Accept-Encoding
    cursor = first.json()["next_cursor"]
    assert 'rel="next"' in first.headers["Link"] and f"cursor={cursor}" in first.headers["Link"]

    late = app.post(alice, "late")
    app.fan_out(app.ready(alice, late))  # the feed consumer, as the runner would run it
    assert late.encode() in app.redis.zrange(keys.feed(reader.id), 0, -1)
    rest: list[str] = []
    while cursor is not None:
        page = app.client.get("/v1/feed", params={"limit": 5, "cursor": cursor}, headers=reader.auth).json()
        rest += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
    assert rest == newest_first[5:]  # nothing repeated, nothing skipped, the new post not in the middle
    assert app.ids("/v1/feed", reader, limit=1) == [late]
    assert app.client.get("/v1/feed").status_code == 401


@SQLITE
@pytest.mark.parametrize("design", [FeedDesign.PULL, FeedDesign.SQL])
def test_the_feed_reads_as_the_apps_design_says(
    design: FeedDesign, db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """``WebDeps.feed_design`` (``DARKROOM_FEED_DESIGN`` in ``app_for``): pull merges the followees'
    recent posts (rebuilt from SQL), the SQL design runs the join; neither builds the reader's feed."""
    with open_app(db_engine, redis_client, tmp_path, feed_design=design) as app:
        alice = app.member("alice")
        reader = _reader_of(app, alice)
        made = [app.post(alice, f"post {i}") for i in range(3)]  # never fanned out
        assert app.ids("/v1/feed", reader) == made[::-1]
        assert not app.redis.exists(keys.feed(reader.id))
        assert bool(app.redis.exists(keys.author_posts(alice.id))) is (design is FeedDesign.PULL)


@SQLITE
def test_forged_edited_and_foreign_cursors_are_400(app: PostsApp) -> None:
    alice = app.member("alice")
    reader, other = _reader_of(app, alice), app.member("other")
    app.follow(other, alice)
    for i in range(3):
        app.post(alice, f"#sun {i}")
    cursor = app.client.get("/v1/feed", params={"limit": 1}, headers=reader.auth).json()["next_cursor"]
    tag_cursor = app.client.get("/v1/tags/sun/posts", params={"limit": 1}).json()["next_cursor"]
    forged = "AQ" + cursor[2:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB")
    for bad, who in ((forged, reader), (cursor, other), (tag_cursor, reader), ("not a cursor", reader)):
        refused = app.client.get("/v1/feed", params={"cursor": bad}, headers=who.auth)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["code"] == "invalid_cursor" and refused.json()["field"] == "cursor"
    foreign_tag = app.client.get("/v1/tags/moon/posts", params={"cursor": tag_cursor})
    assert foreign_tag.status_code == 400 and "tag:moon" in foreign_tag.json()["detail"]
    assert app.client.get("/v1/tags/SUN/posts", params={"cursor": tag_cursor}).status_code == 200  # one list
    assert app.client.get("/v1/feed", params={"limit": 101}, headers=reader.auth).status_code == 400


def test_a_deleted_post_is_gone_from_the_feed_at_once_and_from_redis_after_the_fan_out(app: PostsApp) -> None:
    alice = app.member("alice")
    reader = _reader_of(app, alice)
    keep, drop = app.post(alice, "keep"), app.post(alice, "drop")
    assert app.ids("/v1/feed", reader) == [drop, keep]
    assert app.client.delete(f"/v1/posts/{drop}", headers=alice.auth).status_code == 204
    assert app.ids("/v1/feed", reader) == [keep]  # the page's check (its hydration), before any event
    app.fan_out(Event(EventType.POST_DELETED, alice.id, drop, {"author_id": alice.id}))
    assert drop.encode() not in app.redis.zrange(keys.feed(reader.id), 0, -1)
    assert app.ids("/v1/feed", reader) == [keep]


@SQLITE
def test_a_feed_page_of_20_is_hydrated_in_at_most_two_statements(app: PostsApp) -> None:
    alice = app.member("alice")
    reader = _reader_of(app, alice)
    for i in range(20):
        app.post(alice, f"post {i}")
    app.client.get("/v1/feed", headers=reader.auth)  # rebuilds the feed, notes the token's use and last_seen
    app.redis.delete(*[keys.post_cache(p) for p in app.ids("/v1/feed", reader)])  # every post a miss
    with statements(app.engine) as cold:
        assert len(app.ids("/v1/feed", reader)) == 20
    with statements(app.engine) as warm:
        assert len(app.ids("/v1/feed", reader)) == 20
    reads = [s for s in cold if not s.startswith("BEGIN")]
    assert all(s == "BEGIN DEFERRED" for s in cold if s.startswith("BEGIN"))  # no write lock anywhere
    # the token and the followed celebrities come from Redis (the credential cache, the pulled
    # set); hydration, which is also the page's visibility check: the misses (1) and the viewer's
    # edges (1); every post cached, the edges only
    assert len(reads) == 2, reads
    assert len([s for s in warm if not s.startswith("BEGIN")]) == 1


@SQLITE
def test_every_post_shown_is_one_impression_on_the_stream(app: PostsApp) -> None:
    alice = app.member("alice")
    reader = _reader_of(app, alice)
    made = [app.post(alice, f"#sun {i}") for i in range(3)][::-1]
    assert app.items("/v1/feed", reader, fields="caption") == [{"caption": f"#sun {i}"} for i in (2, 1, 0)]
    views = app.views()
    assert [v["post_id"] for v in views] == made and {v["account_id"] for v in views} == {reader.id}
    assert [orjson.loads(v["data"]) for v in views] == [{"surface": "feed", "position": i} for i in range(3)]
    app.ids("/v1/tags/sun/posts")
    app.ids("/v1/accounts/alice/posts")
    surfaces = [(v["account_id"], orjson.loads(v["data"])["surface"]) for v in app.views()[3:]]
    assert surfaces == [("", "tag")] * 3 + [("", "profile")] * 3  # anonymous readers: no account


@SQLITE
def test_a_feed_page_answers_304_until_something_on_it_changes(app: PostsApp) -> None:
    alice = app.member("alice")
    reader = _reader_of(app, alice)
    post_id = app.post(alice, "one")
    first = app.client.get("/v1/feed", headers=reader.auth)
    tag = first.headers["ETag"]
    same = app.client.get("/v1/feed", headers=reader.auth | {"If-None-Match": tag})
    assert same.status_code == 304 and same.headers["ETag"] == tag
    app.client.put(f"/v1/posts/{post_id}/like", headers=reader.auth)
    changed = app.client.get("/v1/feed", headers=reader.auth | {"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["items"][0]["liked_by_me"]


@SQLITE
def test_reads_never_take_the_write_lock(app: PostsApp) -> None:
    alice = app.member("alice")
    reader = _reader_of(app, alice)
    post_id = app.post(alice, "#sun")
    app.ids("/v1/feed", reader)  # the token's first use and the hour's last_seen are written now
    with app.engine.connect() as conn:
        seen = conn.execute(sa.select(accounts.c.last_seen_at).where(accounts.c.id == reader.id)).scalar()
    assert seen is not None
    with app.engine.begin() as writer:  # BEGIN IMMEDIATE: holds SQLite's write lock until the block ends
        writer.execute(sa.update(accounts).where(accounts.c.id == alice.id).values(bio="busy"))
        for path in ("/v1/feed", f"/v1/posts/{post_id}", f"/v1/posts/{post_id}/likes", "/v1/tags/sun/posts"):
            assert app.client.get(path, headers=reader.auth).status_code == 200, path


@SQLITE
def test_tag_pages_normalise_the_tag_and_hide_what_the_reader_may_not_see(app: PostsApp) -> None:
    alice, hidden = app.member("alice"), app.member("hidden", private=True)
    public = [app.post(alice, f"#Sun {i}") for i in range(5)][::-1]
    secret = app.post(hidden, "#sun secret")
    assert app.all_pages("/v1/tags/%23SUN/posts", None, 2) == [public[:2], public[2:4], public[4:]]
    assert app.ids("/v1/tags/sun/posts", hidden, limit=1) == [secret]
    refused = app.client.get("/v1/tags/sun!/posts")
    assert refused.status_code == 400 and refused.json()["field"] == "tag"


@SQLITE
def test_account_posts_show_own_processing_posts_and_hide_private_accounts(app: PostsApp) -> None:
    alice, hidden, stranger = app.member("alice"), app.member("hidden", private=True), app.member("stranger")
    ready = app.post(alice, "ready")
    waiting = app.client.post(
        "/v1/posts", json={"upload_ids": app.uploads(alice, state="processing")}, headers=alice.auth
    ).json()["id"]
    assert app.ids("/v1/accounts/ALICE/posts", alice) == [waiting, ready]
    assert app.ids("/v1/accounts/alice/posts", stranger) == [ready]
    app.post(hidden, "secret")
    for who in (stranger.auth, {}):
        assert app.client.get("/v1/accounts/hidden/posts", headers=who).status_code == 404
    app.block(alice, stranger)
    assert app.client.get("/v1/accounts/alice/posts", headers=stranger.auth).status_code == 404
    assert app.client.get("/v1/accounts/nobody/posts").status_code == 404
