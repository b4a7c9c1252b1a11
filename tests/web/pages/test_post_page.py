"""The post page over HTTP, without a browser: Open Graph tags, a private account's post hidden
from a non-follower (404, as the API) and shown to a follower, comments escaped and paged, adding
and deleting one with and without htmx, and the feed's link to the page."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from darkroom.social import account_edits, graph, reactions
from tests.web.pages.site import PASSWORD, Site

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
XSS = "<script>alert(1)</script>"
HTMX = {"HX-Request": "true"}


def sign_in(client: TestClient, site: Site, handle: str) -> str:
    """``handle`` (joined through the domain) signed in through the form; its CSRF token."""
    site.join(handle)
    assert client.post("/login", data={"login": handle, "password": PASSWORD}).status_code == 303
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert token is not None
    return token.group(1)


def make_private(site: Site, handle: str) -> None:
    who = site.viewer(handle)  # before the write transaction: SQLite's begins immediately
    with site.engine.begin() as conn:
        account_edits.update_account(conn, who, account_edits.AccountChanges(private=True), "private")


def accept(site: Site, handle: str, follower: str) -> None:
    who = site.viewer(handle)
    with site.engine.begin() as conn:
        graph.accept_request(conn, who, follower)


def meta(html: str, prop: str) -> str | None:
    found = re.search(rf'<meta property="{re.escape(prop)}" content="([^"]*)">', html)
    return None if found is None else unescape(found.group(1))


def test_the_post_page_has_open_graph_tags_and_the_feed_links_to_it(client: TestClient, site: Site) -> None:
    site.join("ana")
    post_id = site.photo_post("ana", f"{XSS} golden hour\nat the pier")
    page = client.get(f"/p/{post_id}")  # signed out: a public post is for everyone
    assert page.status_code == 200 and "content-security-policy" in page.headers
    html = page.text
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt; golden hour" in html
    assert meta(html, "og:title") == "ana (@ana) on Darkroom"
    assert meta(html, "og:description") == f"{XSS} golden hour at the pier"
    assert meta(html, "og:url") == f"http://testserver/p/{post_id}"
    image = meta(html, "og:image")
    assert image is not None and image.startswith("http://testserver/v1/media/")
    assert client.get(image.removeprefix("http://testserver")).headers["content-type"] == "image/jpeg"
    assert meta(html, "og:image:width") == "600" and 'href="/login">Log in</a> to comment' in html

    sign_in(client, site, "ben")
    site.follow("ben", "ana")
    later = site.photo_post("ana", "later")  # fanned out to ben's feed, now that he follows
    assert f'<a class="when" href="/p/{later}">' in client.get("/").text


def test_a_private_accounts_post_is_for_its_followers_only(client: TestClient, site: Site) -> None:
    site.join("ana")
    post_id = site.photo_post("ana", "private light")
    make_private(site, "ana")
    assert client.get(f"/p/{post_id}").status_code == 404  # signed out
    sign_in(client, site, "ben")
    hidden = client.get(f"/p/{post_id}")
    assert hidden.status_code == 404 and "private light" not in hidden.text and "og:image" not in hidden.text
    site.follow("ben", "ana")  # a request: still hidden until ana accepts
    assert client.get(f"/p/{post_id}").status_code == 404
    accept(site, "ana", "ben")
    shown = client.get(f"/p/{post_id}")
    assert shown.status_code == 200 and "private light" in shown.text
    assert "/v1/media/" in (meta(shown.text, "og:image") or "")
    assert client.get("/p/not-an-id").status_code == 400
    assert client.get("/p/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


def test_comments_are_escaped_oldest_first_and_paged(client: TestClient, site: Site) -> None:
    site.join("ana")
    post_id = site.photo_post("ana", "light")
    ana = site.viewer("ana")
    with site.engine.begin() as conn:
        for i in range(21):
            reactions.add_comment(conn, ana, post_id, f"comment {i:02d}" if i else XSS)
    html = client.get(f"/p/{post_id}").text
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    shown = re.findall(r"comment (\d\d)", html)
    assert shown == [f"{i:02d}" for i in range(1, 20)]  # the first 20: the XSS one, then 01..19
    more = re.search(r'<a class="more" href="([^"]+)"', html)
    assert more is not None
    rest = client.get(unescape(more.group(1)), headers=HTMX)
    assert rest.text.lstrip().startswith('<li class="comment"') and re.findall(r"comment (\d\d)", rest.text) == ["20"]
    assert "More comments" not in rest.text
    assert client.get(f"/p/{post_id}?cursor=forged").status_code == 400


def test_adding_and_deleting_a_comment(client: TestClient, site: Site) -> None:
    site.join("ana")
    post_id = site.photo_post("ana", "light")
    token = sign_in(client, site, "ben")
    added = client.post(f"/p/{post_id}/comments", data={"text": XSS, "csrf_token": token}, headers=HTMX)
    assert added.status_code == 200 and added.text.lstrip().startswith('<li class="comment"')
    assert XSS not in added.text and "&lt;script&gt;" in added.text
    assert f'id="comment-count-{post_id}"' in added.text and "1 comment<" in added.text
    assert f'id="comment-box-{post_id}"' in added.text and added.text.count('hx-swap-oob="true"') == 2
    comment_id = re.search(r'id="comment-([0-9A-Z]{26})"', added.text)
    assert comment_id is not None
    plain = client.post(f"/p/{post_id}/comments", data={"text": "second", "csrf_token": token})
    assert plain.status_code == 303 and plain.headers["location"].startswith(f"/p/{post_id}#comment-")
    assert client.post(f"/p/{post_id}/comments", data={"text": "no token"}).status_code == 403
    blank = client.post(f"/p/{post_id}/comments", data={"text": "   ", "csrf_token": token})
    assert blank.status_code == 400 and "blank" in blank.text

    html = client.get(f"/p/{post_id}").text
    assert len(re.findall(r'hx-post="[^"]+/delete"', html)) == 2  # ben may delete his own two, and sees no other's
    gone = client.post(f"/p/{post_id}/comments/{comment_id.group(1)}/delete", data={"csrf_token": token}, headers=HTMX)
    assert gone.status_code == 200 and "1 comment<" in gone.text and "<li" not in gone.text
    again = client.post(f"/p/{post_id}/comments/{comment_id.group(1)}/delete", data={"csrf_token": token})
    assert again.status_code == 404
