"""The search page over HTTP, without a browser: the API's search (accounts and hashtags, ``@``
and ``#`` narrowing it, blocks hiding accounts), the results alone to htmx with the live region's
text out of band, a plain GET form without JavaScript, escaping, refused queries, and the search
box in every page's header."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from darkroom.social import account_edits, graph
from darkroom.web.pages.search_page import RESULTS_LIMIT
from tests.social.rows import make_account, make_post
from tests.web.pages.site import Site
from tests.web.pages.test_post_page import HTMX, XSS, sign_in
from tests.web.pages.test_tag_page import clean

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def found(html: str) -> list[str]:
    """The results' links, in order."""
    return re.findall(r'<a class="(?:person|tag-result)" href="([^"]+)"', html)


def test_search_finds_accounts_and_hashtags_as_the_api_does(client: TestClient, site: Site) -> None:
    with site.engine.begin() as conn:
        ana, anabel = make_account(conn, "ana"), make_account(conn, "anabel", private=True)
        make_account(conn, "zed", display_name="Anatole Z")
        for _ in range(2):
            make_post(conn, ana, tags=["analog"])
        make_post(conn, anabel, tags=["anatomy"])
    page = client.get("/search", params={"q": "ana"})
    assert page.status_code == 200 and "<html" in page.text
    clean(page.text)
    # handle matches first, then display names; the most used tags first
    assert found(page.text) == ["/@ana", "/@anabel", "/@zed", "/tags/analog", "/tags/anatomy"]
    assert "3 accounts and 2 hashtags found" in page.text and "2 posts" in page.text and "(private)" in page.text
    assert 'value="ana"' in page.text
    api = client.get("/v1/search", params={"q": "ana"}).json()
    assert [f"/@{a['handle']}" for a in api["accounts"]] + [f"/tags/{t['name']}" for t in api["tags"]] == found(
        page.text
    )
    assert found(client.get("/search", params={"q": "@ana"}).text) == ["/@ana", "/@anabel", "/@zed"]
    assert found(client.get("/search", params={"q": "#Ana"}).text) == ["/tags/analog", "/tags/anatomy"]
    nothing = client.get("/search", params={"q": "qq"})
    assert found(nothing.text) == [] and "Nothing found for “qq”" in nothing.text

    typed = client.get("/search", params={"q": "anab"}, headers=HTMX)  # htmx, as one types: the results alone
    assert typed.status_code == 200 and "<html" not in typed.text and found(typed.text) == ["/@anabel"]
    assert '<p id="search-status" hx-swap-oob="innerHTML">1 account found</p>' in typed.text
    assert "HX-Request" in typed.headers["vary"]
    back = client.get("/search", params={"q": "anab"}, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in back.text  # Back to a replaced URL: the whole page


def test_search_leaves_out_accounts_in_a_block_and_is_limited(client: TestClient, site: Site) -> None:
    with site.engine.begin() as conn:
        for i in range(RESULTS_LIMIT + 1):
            make_account(conn, f"cam{i:02d}")
    sign_in(client, site, "ben")
    assert len(found(client.get("/search", params={"q": "cam"}).text)) == RESULTS_LIMIT  # the best few
    site.join("camila")
    camila = site.viewer("camila")
    with site.engine.begin() as conn:
        graph.block(conn, camila, "ben")
    assert found(client.get("/search", params={"q": "camil"}).text) == []  # as if it did not exist


def test_search_escapes_what_it_shows_and_names_what_it_refuses(client: TestClient, site: Site) -> None:
    site.join("eve")
    eve = site.viewer("eve")
    with site.engine.begin() as conn:
        account_edits.update_account(conn, eve, account_edits.AccountChanges(display_name=XSS), "display_name")
    page = client.get("/search", params={"q": XSS})
    assert page.status_code == 200 and XSS not in page.text
    assert found(page.text) == ["/@eve"]  # found by its display name, shown as text
    assert '<span class="name">&lt;script&gt;alert(1)&lt;/script&gt;</span>' in page.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page.text
    clean(page.text)
    refused = client.get("/search", params={"q": "#a b"})  # no tag can hold a space: the API's 400
    assert refused.status_code == 400 and "q &#39;#a b&#39; may hold only letters" in refused.text
    typing = client.get("/search", params={"q": "#a b"}, headers=HTMX)  # half typed is no failure to htmx
    assert typing.status_code == 200 and "may hold only letters" in unescape(typing.text)
    for start in ("", "  ", "@", "#"):  # what one types first: the form, no search and no error
        begun = client.get("/search", params={"q": start})
        assert begun.status_code == 200 and "Nothing found" not in begun.text and 'class="error"' not in begun.text
    assert client.get("/search").status_code == 200


def test_every_page_has_a_search_box_that_works_without_javascript(client: TestClient, site: Site) -> None:
    site.join("ana")
    for path in ("/", "/@ana", "/tags/sun"):
        html = client.get(path).text
        assert '<form class="site-search" action="/search" method="get" role="search">' in html
        assert 'for="site-search-q">Search accounts and hashtags</label>' in html and '<a href="/search"' in html
    own = client.get("/search").text  # the page's own box: none in the header
    assert "site-search" not in own and '<a href="/search" aria-current="page">Search</a>' in own
    assert found(client.get("/search?q=an").text) == ["/@ana"]  # what the header's form sends
