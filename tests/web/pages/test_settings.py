"""The settings pages over HTTP, without a browser (TestClient, SQLite): sign-in and CSRF on every
form, the profile form's refusals naming the value and keeping what was typed, escaping, the
private toggle hiding posts from a non-follower, the avatar (small renditions asked for, refused
kinds and sizes named), the block list, API tokens (the secret shown once, revoking), the export's
zip (its JSON and a media file's bytes) and deleting the account (the password required)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from darkroom.social import accounts, graph, reactions
from darkroom.social.avatars import AVATAR_MAX_BYTES, AVATAR_SPEC
from darkroom.storage.schema import assets, uploads
from darkroom.web.app import create_app
from darkroom.web.main import DatabaseAuthenticator
from tests.web.media_app import RecordedStarts, record_renditions
from tests.web.pages.site import PASSWORD, Site, photo_jpeg
from tests.web.pages.test_pages import _parse
from tests.web.pages.test_post_page import XSS, sign_in
from tests.web.real_app import SECRET, web_deps

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
XSS_NAME = "<img src=x onerror=alert(1)>"  # a file name keeps no "/"
PAGES = ("/settings", "/settings/blocked", "/settings/tokens", "/settings/export", "/settings/delete")


@pytest.fixture
def site(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Site]:
    """The site taking uploads (for avatars): workflow starts are recorded, not run."""
    deps = web_deps(
        db_engine, redis_client, tmp_path, authenticator=DatabaseAuthenticator(db_engine), secret=SECRET,
        starts=lambda: RecordedStarts([]),
    )  # fmt: skip
    yield Site(create_app(deps), deps)


def _client(site: Site) -> TestClient:
    return TestClient(site.app, base_url="http://testserver", follow_redirects=False)


def test_settings_need_a_session_and_csrf_and_are_linked_from_the_navigation(client: TestClient, site: Site) -> None:
    for path in PAGES:
        assert client.get(path).status_code == 303 and client.get(path).headers["location"] == "/login"
    token = sign_in(client, site, "ana")
    assert '<a href="/settings" >Settings</a>' in client.get("/").text.replace("\n", "")
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store", path
        links = _parse(page.text)
        assert links.scripts_inline == 0 and links.handlers == [] and ' style="' not in page.text
        assert all(url.startswith("/static/") for url in links.assets)
        assert links.csrf and set(links.csrf) == {token}, path  # every form carries the session's token
        assert f'<a href="{path}" aria-current="page">' in page.text
    for path, data in (
        ("/settings", {"display_name": "x"}),
        ("/settings/tokens", {"name": "x", "scopes": "read"}),
        ("/settings/export", {}),
        ("/settings/delete", {"password": PASSWORD}),
        ("/settings/remove-avatar", {}),
    ):
        assert client.post(path, data=data).status_code == 403, path
    no_token = client.post("/settings/avatar", files={"avatar": ("a.jpg", photo_jpeg(), "image/jpeg")})
    assert no_token.status_code == 403
    assert 'id="display_name" name="display_name" value=""' in client.get("/settings").text  # nothing saved


def test_the_profile_form_saves_refuses_naming_the_value_and_escapes(client: TestClient, site: Site) -> None:
    token = sign_in(client, site, "ana")
    saved = client.post("/settings", data={"csrf_token": token, "display_name": XSS, "bio": f"film\n{XSS}"})
    assert saved.status_code == 303 and saved.headers["location"] == "/settings?saved=profile"
    page = client.get(saved.headers["location"]).text
    assert "Your profile is saved." in page and XSS not in page
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page and "film\n&lt;script&gt;" in page
    assert XSS not in client.get("/@ana").text and "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/@ana").text

    long_name = "N" * 65
    refused = client.post(
        "/settings", data={"csrf_token": token, "display_name": long_name, "bio": "kept <b>bio</b>", "private": "true"}
    )
    assert (
        refused.status_code == 400 and "display_name &#39;NNNNNNNNNNNNNNNNNNNN&#39;… is 65 characters" in refused.text
    )
    assert f'value="{long_name}"' in refused.text and "kept &lt;b&gt;bio&lt;/b&gt;</textarea>" in refused.text
    assert 'value="true" checked' in refused.text  # the box stays as it was ticked
    odd = client.post("/settings", data={"csrf_token": token, "display_name": "Ana", "private": "yes"})
    assert odd.status_code == 422 and "private must be true or false, not &#39;yes&#39;" in odd.text
    with site.engine.begin() as conn:
        row = accounts.get_account(conn, "ana")
    assert row.display_name == XSS and not row.private  # neither refusal wrote anything


def test_the_private_toggle_hides_posts_from_a_non_follower(client: TestClient, site: Site) -> None:
    token = sign_in(client, site, "ana")
    post_id = site.photo_post("ana", "private light")
    with _client(site) as ben:
        sign_in(ben, site, "ben")
        assert f"/p/{post_id}" in ben.get("/@ana").text
        made = client.post("/settings", data={"csrf_token": token, "display_name": "Ana", "private": "true"})
        assert made.status_code == 303 and 'value="true" checked' in client.get("/settings").text
        hidden = ben.get("/@ana")
        assert "This account is private" in hidden.text and f"/p/{post_id}" not in hidden.text
        assert ben.get(f"/p/{post_id}").status_code == 404
        client.post("/settings", data={"csrf_token": token, "display_name": "Ana"})  # unticked: public again
        assert f"/p/{post_id}" in ben.get("/@ana").text


def test_an_avatar_is_a_small_photo_refused_otherwise_by_name(client: TestClient, site: Site) -> None:
    token = sign_in(client, site, "ana")
    sent = client.post(
        "/settings/avatar", data={"csrf_token": token}, files={"avatar": ("me.jpg", photo_jpeg(400, 400), "image/jpeg")}
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/settings?saved=avatar"
    with site.engine.begin() as conn:
        upload_id = accounts.get_account(conn, "ana").avatar_upload_id
        assert upload_id is not None
        info = conn.execute(sa.select(uploads.c.info).where(uploads.c.id == upload_id)).scalar_one()
    assert info["spec"] == AVATAR_SPEC  # the renditions asked of the workflow: 320 and 160 px wide
    assert "being processed" in client.get("/settings").text
    record_renditions(site.deps, upload_id, {"w320.jpg": photo_jpeg(320, 320)}, size=(320, 320))
    page = client.get("/settings").text
    found = re.search(r'<img class="avatar" src="([^"]+)" width="320" height="320" alt="Your photo">', page)
    assert found is not None and client.get(found.group(1).replace("&amp;", "&")).status_code == 200
    assert '<img class="avatar"' in client.get("/@ana").text

    clip = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 600
    video = client.post("/settings/avatar", data={"csrf_token": token}, files={"avatar": (f"{XSS_NAME}.mp4", clip)})
    assert video.status_code == 415 and XSS_NAME not in video.text
    assert "&#39;&lt;img src=x onerror=alert(1)&gt;.mp4&#39; is a video: only a photo is taken here" in video.text
    text = client.post("/settings/avatar", data={"csrf_token": token}, files={"avatar": ("notes.txt", b"hello")})
    assert text.status_code == 415 and "&#39;notes.txt&#39; is not a photo or a video" in text.text
    big = photo_jpeg()[:3] + b"\x00" * AVATAR_MAX_BYTES
    over = client.post("/settings/avatar", data={"csrf_token": token}, files={"avatar": ("big.jpg", big)})
    assert over.status_code == 413 and f"&#39;big.jpg&#39; is over the photo limit of {AVATAR_MAX_BYTES} bytes" in (
        over.text
    )
    with site.engine.begin() as conn:
        assert accounts.get_account(conn, "ana").avatar_upload_id == upload_id  # the refusals changed nothing
        assert conn.execute(sa.select(sa.func.count()).select_from(assets)).scalar_one() == 1  # nor stored

    removed = client.post("/settings/remove-avatar", data={"csrf_token": token})
    assert removed.status_code == 303 and "Your photo is removed." in client.get(removed.headers["location"]).text
    assert '<img class="avatar"' not in client.get("/@ana").text


def test_the_block_list_shows_whom_one_blocks_and_unblocks(client: TestClient, site: Site) -> None:
    token = sign_in(client, site, "ana")
    assert "You block nobody." in client.get("/settings/blocked").text
    for handle in ("ben", "cara"):
        site.join(handle)
    ana = site.viewer("ana")
    with site.engine.begin() as conn:
        graph.block(conn, ana, "ben")
        graph.block(conn, ana, "cara")
    page = client.get("/settings/blocked").text
    assert page.index("@cara") < page.index("@ben")  # newest block first
    assert 'action="/settings/blocked/ben/unblock"' in page and 'aria-label="Unblock @ben"' in page
    done = client.post("/settings/blocked/ben/unblock", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/settings/blocked"
    after = client.get("/settings/blocked").text
    assert "@ben" not in after and "@cara" in after
    assert client.get("/settings/blocked?cursor=forged").status_code == 400


def test_a_tokens_secret_is_shown_once_and_revoking_stops_it(client: TestClient, site: Site) -> None:
    token = sign_in(client, site, "ana")
    assert "No tokens yet." in client.get("/settings/tokens").text
    made = client.post("/settings/tokens", data={"csrf_token": token, "name": XSS, "scopes": ["read", "write"]})
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    secret = re.search(r'<input id="token-secret" class="secret" value="([^"]+)" readonly', made.text)
    assert secret is not None and XSS not in made.text and "&lt;script&gt;" in made.text
    listed = client.get("/settings/tokens").text
    assert secret.group(1) not in listed and "token-secret" not in listed  # never again
    assert "read, write" in listed and "last used never" in listed
    with _client(site) as script:
        bearer = {"Authorization": f"Bearer {secret.group(1)}"}
        assert script.get("/v1/accounts/me", headers=bearer).json()["handle"] == "ana"
        assert "last used now" in client.get("/settings/tokens").text
        token_id = re.search(r'action="/settings/tokens/([^/"]+)/revoke"', listed)
        assert token_id is not None
        revoked = client.post(f"/settings/tokens/{token_id.group(1)}/revoke", data={"csrf_token": token})
        assert revoked.status_code == 303 and "No tokens yet." in client.get("/settings/tokens").text
        assert script.get("/v1/accounts/me", headers=bearer).status_code == 401

    blank = client.post("/settings/tokens", data={"csrf_token": token, "name": "  ", "scopes": "read"})
    assert blank.status_code == 400 and "token name &#39;  &#39; is 0 characters long" in blank.text
    none = client.post("/settings/tokens", data={"csrf_token": token, "name": "backup"})
    assert none.status_code == 400 and "scopes is empty" in none.text and 'value="backup"' in none.text
    assert 'id="scope-read" name="scopes" type="checkbox" value="read" >' in none.text  # unticked, as sent
    odd = client.post("/settings/tokens", data={"csrf_token": token, "name": "x", "scopes": "admin"})
    assert odd.status_code == 400 and "scope &#39;admin&#39; is not one of read, write" in odd.text


def test_the_export_is_a_zip_of_the_json_and_the_original_media(client: TestClient, site: Site) -> None:
    token = sign_in(client, site, "ana")
    site.join("ben")
    post_id = site.photo_post("ana", f"golden hour #sunset {XSS}")
    other = site.photo_post("ben", "ben's")
    ana, ben = site.viewer("ana"), site.viewer("ben")
    with site.engine.begin() as conn:
        reactions.add_comment(conn, ana, post_id, "first light")
        reactions.like(conn, ana, other)
        graph.follow(conn, ben, "ana")
        graph.follow(conn, ana, "ben")
    answer = client.post("/settings/export", data={"csrf_token": token})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert re.fullmatch(
        r'attachment; filename="darkroom-ana-\d{4}-\d\d-\d\d\.zip"', answer.headers["content-disposition"]
    )
    assert answer.headers["cache-control"] == "no-store" and int(answer.headers["content-length"]) == len(
        answer.content
    )
    with zipfile.ZipFile(io.BytesIO(answer.content)) as zf:
        names = set(zf.namelist())
        read = lambda name: json.loads(zf.read(name))  # noqa: E731
        profile, posts, manifest = read("profile.json"), read("posts.json"), read("manifest.json")
        assert profile["handle"] == "ana" and profile["email"] == "ana@example.com" and profile["avatar"] is None
        assert [p["caption"] for p in posts] == [f"golden hour #sunset {XSS}"] and posts[0]["tags"] == ["sunset"]
        assert posts[0]["created_at"].endswith("Z") and posts[0]["state"] == "ready"
        media = posts[0]["media"][0]
        assert media["file"] == f"media/{post_id}/0.jpg" and media["content_type"] == "image/jpeg"
        with site.engine.begin() as conn:
            key = conn.execute(sa.select(assets.c.source_key).where(assets.c.owner == ana.account_id)).scalar_one()
        original = zf.read(media["file"])
        assert original == site.deps.blobs.get_bytes(key) == photo_jpeg() and len(original) == media["size_bytes"]
        assert zf.getinfo(media["file"]).compress_type == zipfile.ZIP_STORED
        assert [c["text"] for c in read("comments.json")] == ["first light"]
        assert [like["post_id"] for like in read("likes.json")] == [other]
        assert [f["handle"] for f in read("followers.json")] == ["ben"]
        assert [f["handle"] for f in read("following.json")] == ["ben"]
        assert manifest["counts"] == {"posts": 1, "media": 1, "comments": 1, "likes": 1, "followers": 1, "following": 1}
        assert names == {"manifest.json", "profile.json", "posts.json", "comments.json", "likes.json",
                         "followers.json", "following.json", media["file"]}  # fmt: skip
        assert zf.testzip() is None
    with _client(site) as script:  # the API answers the same zip
        made = client.post("/settings/tokens", data={"csrf_token": token, "name": "export", "scopes": "read"})
        secret = re.search(r'class="secret" value="([^"]+)"', made.text)
        assert secret is not None
        api = script.get("/v1/accounts/me/export", headers={"Authorization": f"Bearer {secret.group(1)}"})
        assert api.status_code == 200 and api.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(api.content)) as zf:
            assert json.loads(zf.read("profile.json"))["handle"] == "ana" and f"media/{post_id}/0.jpg" in zf.namelist()
        assert script.get("/v1/accounts/me/export").status_code == 401


def test_deleting_the_account_needs_its_password_then_signs_out(client: TestClient, site: Site) -> None:
    token = sign_in(client, site, "ana")
    site.photo_post("ana", "last light")
    wrong = client.post("/settings/delete", data={"csrf_token": token, "password": "not it"})
    assert wrong.status_code == 401 and "that is not the password of @ana" in wrong.text
    assert 'role="alert"' in wrong.text and client.get("/@ana").status_code == 200
    done = client.post("/settings/delete", data={"csrf_token": token, "password": PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert "darkroom_session" not in client.cookies
    assert client.get("/@ana").status_code == 404
    assert client.get("/settings").headers["location"] == "/login"
    assert client.post("/login", data={"login": "ana", "password": PASSWORD}).status_code == 401
