"""The hashtag page over HTTP, without a browser: the posts with the tag that the viewer may see
(a private account's for its followers only, nothing of an account in a block), its count, the
grid paged at its size with the API's cursor, escaping, and a malformed tag named on a 404 page."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from darkroom.social import graph
from darkroom.web.pages.profile_page import GRID_SIZE
from tests.social.rows import make_account, make_post
from tests.web.pages.site import Site
from tests.web.pages.test_post_page import HTMX, XSS, accept, make_private, sign_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def clean(html: str) -> None:
    """No inline script, event handler or style: the page keeps to the CSP."""
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert re.search(r"\son[a-z]+=", html) is None and ' style="' not in html


def tiles(html: str) -> list[str]:
    """The posts of a grid, in order."""
    return re.findall(r'<li class="tile">\s*<a href="/p/([^"]+)"', html)


def test_a_hashtag_page_shows_the_posts_its_viewer_may_see(client: TestClient, site: Site) -> None:
    site.join("ana")
    site.join("cara")
    site.join("dan")
    public = site.photo_post("ana", "golden #Sunset")
    private = site.photo_post("cara", "quiet #sunset")
    make_private(site, "cara")
    blocker = site.photo_post("dan", "#sunset from dan")
    page = client.get("/tags/sunset")  # signed out: public accounts only
    assert page.status_code == 200 and "content-security-policy" in page.headers
    clean(page.text)
    assert '<h1 id="tag-name">#sunset</h1>' in page.text and "3 posts" in page.text  # counted as search counts
    assert tiles(page.text) == [blocker, public]

    sign_in(client, site, "ben")
    dan = site.viewer("dan")
    with site.engine.begin() as conn:
        graph.block(conn, dan, "ben")
    assert tiles(client.get("/tags/sunset").text) == [public]  # dan blocks ben; cara is private
    site.follow("ben", "cara")
    assert tiles(client.get("/tags/sunset").text) == [public]  # a request is not a follow
    accept(site, "cara", "ben")
    assert tiles(client.get("/tags/SUNSET").text) == [private, public]  # one tag, whatever its case
    assert tiles(client.get("/tags/%23sunset").text) == [private, public]  # and with its '#'
    none = client.get("/tags/moon")
    assert none.status_code == 200 and "No posts with #moon to show." in none.text and "0 posts" in none.text


def test_a_malformed_tag_is_a_404_page_naming_it_and_captions_are_escaped(client: TestClient, site: Site) -> None:
    page = client.get("/tags/" + quote(XSS, safe=""))
    assert page.status_code == 404 and "No such hashtag" in page.text
    assert XSS not in page.text and "tag &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39; may hold only" in page.text
    clean(page.text)
    long = client.get("/tags/" + "a" * 101)
    assert long.status_code == 404 and "must have 1 to 100 characters" in long.text
    site.join("ana")
    site.photo_post("ana", f"{XSS} #night")
    shown = client.get("/tags/night")
    assert shown.status_code == 200 and XSS not in shown.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.text


def test_the_grid_pages_at_its_size_with_the_apis_cursor(client: TestClient, site: Site) -> None:
    with site.engine.begin() as conn:
        ana = make_account(conn, "ana")
        made = [make_post(conn, ana, caption=f"post {i} #sun", tags=["sun"]) for i in range(GRID_SIZE)]
    full = client.get("/tags/sun").text
    assert tiles(full) == made[::-1] and "More posts" not in full  # exactly a page: no next one
    with site.engine.begin() as conn:
        made.append(make_post(conn, ana, caption="one more #sun", tags=["sun"]))
    first = client.get("/tags/sun").text
    assert tiles(first) == made[:0:-1] and "More posts" in first  # the newest 12; the oldest is next
    found = re.search(r'class="more" href="(/tags/sun\?cursor=[^"]+)"', first)
    assert found is not None
    href = found.group(1).replace("&amp;", "&")
    rest = client.get(href, headers=HTMX)  # htmx: the next tiles alone
    assert rest.status_code == 200 and "<html" not in rest.text and tiles(rest.text) == [made[0]]
    assert "More posts" not in rest.text
    whole = client.get(href)  # without JavaScript: the whole page from there
    assert "<html" in whole.text and tiles(whole.text) == [made[0]] and f"{GRID_SIZE + 1} posts" in whole.text
    cursor = href.split("cursor=", 1)[1]
    assert client.get(f"/tags/moon?cursor={cursor}").status_code == 400  # a cursor is good for its tag only
    assert client.get("/tags/sun?cursor=forged").status_code == 400
