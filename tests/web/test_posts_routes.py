"""POST/GET/PATCH/DELETE /v1/posts on the real app: the upload and caption limits at their edges,
read masks down to the SQL, ETags (304, If-Match, 412), AIP-134 updates, deletes answering 404
everywhere, and visibility (private accounts, the author-only ``error``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa

from darkroom.social.viewer import Role
from darkroom.storage.schema import post_media, posts
from tests.social.rows import make_post
from tests.social.statements import statements
from tests.web.social_app import PostsApp, User, open_app

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[PostsApp]:
    with open_app(db_engine, redis_client, tmp_path) as social:
        yield social


def _patch(
    app: PostsApp, who: User, url: str, body: dict[str, Any], mask: str = "caption", **headers: str
) -> httpx.Response:
    return app.client.patch(url, params={"update_mask": mask}, json=body, headers=who.auth | headers)


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- creating ---------------------------------------------------------------------------------------
def test_a_post_of_ten_ready_uploads_is_201_and_one_still_processing_is_202(app: PostsApp) -> None:
    alice = app.member("alice")
    ids = app.uploads(alice, 10)
    made = app.client.post("/v1/posts", json={"caption": "ten #Sun", "upload_ids": ids}, headers=alice.auth)
    assert made.status_code == 201, made.text
    post = made.json()
    assert made.headers["Location"] == f"/v1/posts/{post['id']}" and made.headers["ETag"]
    assert post["state"] == "ready" and post["caption"] == "ten #Sun" and post["tags"] == ["sun"]
    assert [m["id"] for m in post["media"]] == ids and post["author"]["handle"] == "alice"

    waiting = app.uploads(alice, 1, state="processing")
    made = app.client.post("/v1/posts", json={"upload_ids": waiting}, headers=alice.auth)
    assert made.status_code == 202 and made.json()["state"] == "processing"
    assert app.client.get(made.headers["Location"], headers=alice.auth).json()["state"] == "processing"


@SQLITE
def test_eleven_uploads_or_a_bad_one_in_the_middle_store_nothing(app: PostsApp) -> None:
    alice, bob = app.member("alice"), app.member("bob")
    eleven = app.uploads(alice, 11)
    refused = app.client.post("/v1/posts", json={"upload_ids": eleven}, headers=alice.auth)
    assert refused.status_code == 400 and refused.json()["field"] == "upload_ids"
    assert "not 11" in refused.json()["detail"]
    (foreign,) = app.uploads(bob, 1)
    ids = [*eleven[:4], foreign, *eleven[5:10]]
    refused = app.client.post("/v1/posts", json={"upload_ids": ids}, headers=alice.auth)
    assert refused.status_code == 400 and foreign in refused.json()["detail"]
    refused = app.client.post("/v1/posts", json={"upload_ids": eleven[:2], "title": "x"}, headers=alice.auth)
    assert refused.status_code == 400 and refused.json()["field"] == "title"
    assert _count(app.engine, posts) == 0 and _count(app.engine, post_media) == 0
    assert app.client.post("/v1/posts", json={"upload_ids": eleven[:2]}).status_code == 401


@SQLITE
def test_captions_at_2200_characters_and_markup_stay_text(app: PostsApp) -> None:
    alice = app.member("alice")
    markup = '<script>alert("x")</script> & #tag '
    caption = markup + "x" * (2200 - len(markup))
    made = app.client.post("/v1/posts", json={"caption": caption, "upload_ids": app.uploads(alice)}, headers=alice.auth)
    assert made.status_code == 201 and made.json()["caption"] == caption
    assert b'<script>alert(\\"x\\")</script> &' in app.client.get(made.headers["Location"]).content  # not escaped
    refused = app.client.post(
        "/v1/posts", json={"caption": caption + "y", "upload_ids": app.uploads(alice)}, headers=alice.auth
    )
    assert refused.status_code == 400 and refused.json()["field"] == "caption" and "2201" in refused.json()["detail"]
    assert _count(app.engine, posts) == 1


# -- reading ----------------------------------------------------------------------------------------
@SQLITE
def test_fields_select_what_is_returned_and_what_is_queried(app: PostsApp) -> None:
    alice = app.member("alice")
    post_id = app.post(alice, "hello #sun @alice", media=2)
    with statements(app.engine) as small:
        narrow = app.client.get(f"/v1/posts/{post_id}", params={"fields": "id,caption"})
    with statements(app.engine) as whole:
        full = app.client.get(f"/v1/posts/{post_id}")
    assert narrow.json() == {"id": post_id, "caption": "hello #sun @alice"}
    assert full.json()["author"]["handle"] == "alice" and len(full.json()["media"]) == 2
    assert small[0] == whole[0] == "BEGIN DEFERRED"  # a read-only transaction: no write lock
    assert len(small) == len(whole) == 2  # and one statement, whatever the mask, for an anonymous read
    narrow_sql, whole_sql = small[1].lower(), whole[1].lower()
    for touched in ("handle", "uploads", "post_media", "post_tags", "mentions"):
        assert touched in whole_sql and touched not in narrow_sql, touched
    assert app.client.get(f"/v1/posts/{post_id}", params={"fields": "like_count"}).json() == {"like_count": 0}
    refused = app.client.get(f"/v1/posts/{post_id}", params={"fields": "id,captoin"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_field_mask"
    assert "captoin" in refused.json()["detail"]


@SQLITE
def test_etags_answer_304_and_cache_control_depends_on_the_reader(app: PostsApp) -> None:
    alice = app.member("alice")
    post_id = app.post(alice, "one")
    anonymous = app.client.get(f"/v1/posts/{post_id}")
    assert anonymous.headers["Cache-Control"] == "public, no-cache"
    assert anonymous.headers["Vary"].startswith("Authorization, Cookie")
    signed_in = app.client.get(f"/v1/posts/{post_id}", headers=alice.auth)
    assert signed_in.headers["Cache-Control"] == "private, no-cache"
    tag = signed_in.headers["ETag"]
    again = app.client.get(f"/v1/posts/{post_id}", headers=alice.auth | {"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["ETag"] == tag and not again.content
    assert again.headers["Cache-Control"] == "private, no-cache" and again.headers["Vary"]
    app.client.put(f"/v1/posts/{post_id}/like", headers=alice.auth)  # liked_by_me changes, the version does not
    changed = app.client.get(f"/v1/posts/{post_id}", headers=alice.auth | {"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["liked_by_me"]


def test_private_posts_are_404_to_non_followers_and_error_is_for_the_author_only(app: PostsApp) -> None:
    hidden, fan, stranger = app.member("hidden", private=True), app.member("fan"), app.member("stranger")
    admin = app.member("boss", role=Role.ADMIN)
    post_id = app.post(hidden, "for friends")
    app.follow(fan, hidden)
    with app.engine.begin() as conn:
        conn.execute(sa.text("UPDATE follows SET state = 'active'"))  # accepted
        failed = make_post(conn, hidden.id, state="failed", error="media 1 (a.mov) could not be processed: codec")
    shown = app.client.get(f"/v1/posts/{post_id}", headers=fan.auth)
    assert shown.status_code == 200
    assert all("&sig=" in r["url"] for m in shown.json()["media"] for r in m["renditions"])  # signed, expiring
    public = app.client.get(f"/v1/posts/{app.post(fan, 'open')}").json()["media"][0]["renditions"]
    assert public and not any("sig=" in r["url"] for r in public)
    for who in (stranger.auth, {}):
        gone = app.client.get(f"/v1/posts/{post_id}", headers=who)
        assert gone.status_code == 404 and gone.json()["code"] == "not_found"
    own = app.client.get(f"/v1/posts/{failed}", headers=hidden.auth).json()
    assert own["state"] == "failed" and own["error"].endswith("codec")
    assert app.client.get(f"/v1/posts/{failed}", headers=fan.auth).status_code == 404  # not ready
    assert app.client.get(f"/v1/posts/{failed}", headers=admin.auth).json()["error"] == ""
    assert app.client.get("/v1/posts/not-an-id").status_code == 400


# -- editing ----------------------------------------------------------------------------------------
@SQLITE
def test_patch_takes_the_post_and_an_update_mask_naming_only_caption(app: PostsApp) -> None:
    alice = app.member("alice")
    post_id = app.post(alice, "before #old")
    url = f"/v1/posts/{post_id}"
    read = app.client.get(url, headers=alice.auth).json()
    edited = _patch(app, alice, url, read | {"caption": "after #new", "like_count": 99})
    assert edited.status_code == 200, edited.text
    assert edited.json()["caption"] == "after #new" and edited.json()["tags"] == ["new"]
    assert edited.json()["like_count"] == 0  # output-only fields in the body are ignored
    cases = {
        "caption,state,like_count": ("update_mask", "'like_count', 'state'"),
        "captoin": ("update_mask", "captoin"),
        "": ("update_mask", "update_mask"),
    }
    for mask, (field, named) in cases.items():
        refused = _patch(app, alice, url, {"caption": "x"}, mask)
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.text
        assert named in refused.json()["detail"]
    unknown = _patch(app, alice, url, {"caption": "x", "title": "y"})
    assert unknown.status_code == 400 and unknown.json()["field"] == "title"
    wrong_type = _patch(app, alice, url, {"caption": 5})
    assert wrong_type.status_code == 400 and wrong_type.json()["field"] == "caption"
    too_long = _patch(app, alice, url, {"caption": "x" * 2201})
    assert too_long.status_code == 400 and too_long.json()["field"] == "caption"
    cleared = _patch(app, alice, url, {}, "*")
    assert cleared.status_code == 200 and cleared.json()["caption"] == ""  # masked and absent: cleared


@SQLITE
def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(app: PostsApp) -> None:
    alice, bob = app.member("alice"), app.member("bob")
    post_id = app.post(alice, "v1")
    url = f"/v1/posts/{post_id}"
    tag = app.client.get(url, params={"fields": "caption"}).headers["ETag"]  # any representation's tag
    first = _patch(app, alice, url, {"caption": "v2"}, **{"If-Match": tag})
    assert first.status_code == 200 and first.headers["ETag"] != tag
    stale = _patch(app, alice, url, {"caption": "v3"}, **{"If-Match": tag})
    assert stale.status_code == 412 and stale.json()["field"] == "If-Match"
    assert app.client.get(url).json()["caption"] == "v2"
    fresh = _patch(app, alice, url, {"caption": "v3"}, **{"If-Match": first.headers["ETag"]})
    assert fresh.status_code == 200 and fresh.json()["caption"] == "v3"
    # someone else learns nothing from a precondition: the domain's answer comes first
    other = _patch(app, bob, url, {"caption": "x"}, **{"If-Match": '"1-x"'})
    assert other.status_code == 403
    stale_delete = app.client.delete(url, headers=alice.auth | {"If-Match": tag})
    assert stale_delete.status_code == 412 and app.client.get(url).status_code == 200


@SQLITE
def test_an_edit_reaches_readers_of_the_post_cache(app: PostsApp) -> None:
    alice = app.member("alice")
    post_id = app.post(alice, "old #sun")
    assert app.items("/v1/tags/sun/posts")[0]["caption"] == "old #sun"  # cached now
    assert _patch(app, alice, f"/v1/posts/{post_id}", {"caption": "new #sun"}).status_code == 200
    assert app.items("/v1/tags/sun/posts")[0]["caption"] == "new #sun"


# -- deleting ---------------------------------------------------------------------------------------
def test_a_deleted_post_is_404_everywhere(app: PostsApp) -> None:
    alice, bob = app.member("alice"), app.member("bob")
    post_id = app.post(alice, "bye #sun")
    app.client.put(f"/v1/posts/{post_id}/like", headers=bob.auth)
    assert app.ids("/v1/tags/sun/posts") == [post_id]  # cached
    assert app.client.delete(f"/v1/posts/{post_id}", headers=bob.auth).status_code == 403
    gone = app.client.delete(f"/v1/posts/{post_id}", headers=alice.auth)
    assert gone.status_code == 204 and not gone.content
    for path in ("", "/likes", "/comments"):
        assert app.client.get(f"/v1/posts/{post_id}{path}", headers=alice.auth).status_code == 404, path
    assert app.client.put(f"/v1/posts/{post_id}/like", headers=bob.auth).status_code == 404
    assert app.client.post(f"/v1/posts/{post_id}/comments", json={"text": "hi"}, headers=bob.auth).status_code == 404
    assert app.client.delete(f"/v1/posts/{post_id}", headers=alice.auth).status_code == 404
    assert app.ids("/v1/tags/sun/posts") == [] and app.ids("/v1/accounts/alice/posts", alice) == []


@SQLITE
def test_a_post_read_is_one_impression_and_a_read_only_token_cannot_write(app: PostsApp) -> None:
    alice, bob = app.member("alice"), app.member("bob")
    post_id = app.post(alice, "seen")
    app.client.get(f"/v1/posts/{post_id}", headers=bob.auth)
    (view,) = app.views()
    assert (view["post_id"], view["account_id"]) == (post_id, bob.id) and '"surface":"post"' in view["data"]
    reader = app.read_only_token(bob)
    assert app.client.get(f"/v1/posts/{post_id}", headers=reader).status_code == 200
    assert app.client.put(f"/v1/posts/{post_id}/like", headers=reader).status_code == 403
    assert app.client.delete(f"/v1/posts/{post_id}", headers=app.read_only_token(alice)).status_code == 403
