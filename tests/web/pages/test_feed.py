"""The feed's photos, comments and "new posts" bar over HTTP (TestClient, SQLite, real Redis): the
BlurHash carried to a placeholder canvas, every item of a post as a carousel, the latest comments
of a whole page read in one statement and a comment box under each post, the bar's poll (one Redis
read, no post read) and the new posts it loads, and the feed page's script and style budget."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from darkroom.social import reactions
from darkroom.web.pages.assets import FEED_PAGE, Assets
from tests.social.statements import statements
from tests.web.pages.site import Site, photo_blurhash
from tests.web.pages.test_post_page import HTMX, XSS, sign_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
BUDGET_BYTES = 150 * 1024  # JS + CSS of the feed's first page (the budget)


class _Loads(HTMLParser):
    """The scripts, stylesheets and preloaded modules a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("rel") in ("stylesheet", "modulepreload"):
            self.urls.append(str(found["href"]))


def _comment(site: Site, handle: str, post_id: str, text: str) -> str:
    who = site.viewer(handle)
    with site.engine.begin() as conn:
        return reactions.add_comment(conn, who, post_id, text).id


def _selects(sent: list[str]) -> list[str]:
    return [s for s in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def test_a_photo_carries_its_blurhash_to_a_placeholder_canvas(client: TestClient, site: Site) -> None:
    site.join("ana")
    sign_in(client, site, "ben")
    site.follow("ben", "ana")
    post_id = site.photo_post("ana", "dusk")
    html = client.get("/").text
    canvas = re.search(r"<canvas [^>]*>", html)
    assert canvas is not None
    assert f'data-blurhash="{photo_blurhash()}"' in canvas.group() and 'aria-hidden="true"' in canvas.group()
    assert 'class="blurhash" width="32" height="32"' in canvas.group()  # sized by CSS, never inline style
    assert re.search(r'<figure class="media">\s*<canvas', html)  # behind the picture, in its figure
    # the API's post carries it too: the hydration reads it from the upload
    api = client.get(f"/v1/posts/{post_id}").json()
    assert api["media"][0]["blurhash"] == photo_blurhash()
    assert 'rel="modulepreload"' in html and "/vendor/blurhash.js" in html and "/photos.js" in html


def test_a_post_of_several_photos_shows_every_item_in_a_carousel(client: TestClient, site: Site) -> None:
    site.join("ana")
    sign_in(client, site, "ben")
    site.follow("ben", "ana")
    post_id = site.photos_post("ana", "three", sizes=[(300, 200), (200, 300), (300, 300)])
    html = client.get("/").text
    slides = re.findall(rf'<div class="slide" id="post-{post_id}-item-(\d)" [^>]*aria-label="(\d) of 3"', html)
    assert slides == [("1", "1"), ("2", "2"), ("3", "3")]
    images = re.findall(r"<img [^>]*>", html)
    assert ["loading=" in img for img in images] == [False, True, True]  # the first at once
    assert len(re.findall(r"<canvas class=\"blurhash\"", html)) == 3
    assert re.search(r'role="group" aria-roledescription="carousel"\s+aria-label="3 photos by @ana', html)
    for label in ("Previous photo", "Next photo"):  # shown by photos.js: scroll-snap alone without it
        assert re.search(rf'<button type="button" class="carousel-button \w+" aria-label="{label}" [^>]*hidden>', html)
    assert '<ol class="dots" aria-hidden="true" hidden>' in html and html.count('<li class="dot') == 3
    assert "1 of 3</figcaption>" not in html  # the old badge of the first item only


def test_the_feed_shows_the_latest_two_comments_and_a_comment_box(client: TestClient, site: Site) -> None:
    site.join("ana")
    site.join("cat")
    token = sign_in(client, site, "ben")
    site.follow("ben", "ana")
    post_id = site.photo_post("ana", "light")
    quiet = site.photo_post("ana", "quiet")
    ids = [_comment(site, "cat", post_id, text) for text in ("first", "second", XSS)]
    html = client.get("/").text
    shown = re.findall(rf'<ol class="comment-list" id="comments-list-{post_id}">(.*?)</ol>', html, re.S)[0]
    assert re.findall(r'<li class="comment" id="comment-(\w+)"', shown) == ids[1:]  # the latest two, in order
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and XSS not in html
    assert re.search(rf'<ol class="comment-list" id="comments-list-{quiet}">\s*</ol>', html)
    assert f'<form id="comment-box-{post_id}"' in html and f'hx-target="#comments-list-{post_id}"' in html
    assert f'<label for="comment-text-{quiet}">Add a comment</label>' in html
    assert f'id="comment-count-{post_id}" href="/p/{post_id}#comments">' in html  # the counter consumer's count
    # from the feed: the comment appended to that post's list, its count and an empty box out of band
    added = client.post(f"/p/{post_id}/comments", data={"text": "lovely", "csrf_token": token}, headers=HTMX)
    assert added.status_code == 200 and added.text.lstrip().startswith('<li class="comment"')
    assert f'id="comment-count-{post_id}"' in added.text and "4 comments<" in added.text
    assert f'<form id="comment-box-{post_id}"' in added.text and 'hx-swap-oob="true"' in added.text
    assert "lovely" in client.get("/").text


def test_the_comments_of_a_whole_feed_page_are_one_statement(client: TestClient, site: Site) -> None:
    site.join("ana")
    sign_in(client, site, "ben")
    site.follow("ben", "ana")

    def feed_selects() -> list[str]:
        client.get("/")  # warm: the post cache is filled by the first read
        with statements(site.engine) as sent:
            assert client.get("/").status_code == 200
        return _selects(sent)

    first = site.photo_post("ana", "one")
    _comment(site, "ana", first, "hello")
    few = feed_selects()
    for i in range(4):
        _comment(site, "ana", site.photo_post("ana", f"more {i}"), f"comment {i}")
    many = feed_selects()
    assert len(many) == len(few)  # five posts with comments cost what one does
    assert len([s for s in many if "row_number() over" in s.lower()]) == 1


def test_the_new_posts_bar_counts_from_redis_and_loads_them_at_the_top(client: TestClient, site: Site) -> None:
    site.join("ana")
    sign_in(client, site, "ben")
    site.follow("ben", "ana")
    seen = site.photo_post("ana", "seen")
    html = client.get("/").text
    slot = re.search(r'<div id="new-posts" class="new-posts-slot" data-poll-url="([^"]+)" data-poll-ms="(\d+)"', html)
    assert slot is not None and slot.group(1) == f"/feed/new?since={seen}" and slot.group(2) == "30000"
    nothing = client.get(slot.group(1), headers=HTMX)
    assert nothing.status_code == 200 and nothing.text.strip() == ""
    assert nothing.headers["cache-control"] == "no-store"
    fresh = [site.photo_post("ana", f"fresh {i}") for i in range(2)]
    with statements(site.engine) as sent:
        bar = client.get(slot.group(1), headers=HTMX)
    assert not [s for s in sent if "posts" in s or "comments" in s]  # a Redis read: no post is read
    assert '<a class="new-posts" href="/"' in bar.text and "2 new posts</a>" in bar.text
    load = re.search(r'hx-get="([^"]+)"', bar.text)
    assert load is not None and load.group(1) == f"/feed/new/posts?since={seen}"
    assert 'hx-target="#feed" hx-swap="afterbegin show:window:top"' in bar.text

    loaded = client.get(load.group(1), headers=HTMX)
    articles = re.findall(r'<article class="post" id="post-(\w+)"', loaded.text)
    assert articles == fresh[::-1]  # newest first, the one already shown not again
    assert f'id="new-posts" class="new-posts-slot" data-poll-url="/feed/new?since={fresh[-1]}"' in loaded.text
    assert 'hx-swap-oob="true"' in loaded.text and f'id="comments-list-{fresh[0]}"' in loaded.text
    after = client.get(f"/feed/new?since={fresh[-1]}", headers=HTMX)
    assert after.text.strip() == ""
    plain = client.get(load.group(1))
    assert plain.status_code == 303 and plain.headers["location"] == "/"


def test_the_bar_says_one_post_and_reloads_the_feed_past_a_page(client: TestClient, site: Site) -> None:
    site.join("ana")
    sign_in(client, site, "ben")
    site.follow("ben", "ana")
    first = site.photo_post("ana", "first")
    site.photo_post("ana", "second")
    assert "1 new post</a>" in client.get(f"/feed/new?since={first}", headers=HTMX).text
    for i in range(20):
        site.photo_post("ana", f"burst {i}", size=(60, 40))
    assert "21 new posts</a>" in client.get(f"/feed/new?since={first}", headers=HTMX).text
    gap = client.get(f"/feed/new/posts?since={first}", headers=HTMX)  # more than a page: a fresh feed
    assert gap.status_code == 200 and gap.headers["hx-redirect"] == "/" and gap.text == ""
    odd = client.get("/feed/new?since=<b>1</b>", headers=HTMX)
    assert odd.status_code == 400 and "since &#39;&lt;b&gt;1&lt;/b&gt;&#39; is not a Darkroom id" in odd.text
    token = re.findall(r'name="csrf-token" content="([^"]+)"', client.get("/").text)[0]
    client.post("/logout", data={"csrf_token": token})
    assert client.get(f"/feed/new?since={first}", headers=HTMX).status_code == 401


def test_the_feed_page_loads_its_scripts_and_styles_within_the_budget(client: TestClient, site: Site) -> None:
    site.join("ana")
    sign_in(client, site, "ben")
    site.follow("ben", "ana")
    site.photos_post("ana", "two", sizes=[(60, 40), (40, 60)])
    loads = _Loads()
    loads.feed(client.get("/").text)
    assert {url.split("/", 3)[3] for url in loads.urls} == set(FEED_PAGE)
    total = 0
    for url in loads.urls:
        answer = client.get(url, headers={"Accept-Encoding": "identity"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(("text/css", "text/javascript"))
        total += len(answer.content)
    assert total == Assets().total_bytes(FEED_PAGE) <= BUDGET_BYTES
