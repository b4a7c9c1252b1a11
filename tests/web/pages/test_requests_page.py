"""The follow requests page over HTTP, without a browser: the signed-in account's requests with
Accept and Reject (CSRF forms; htmx gets the row, a plain post a 303 back), the follower shown the
private account's posts once accepted, paging at the page size with the API's cursor, escaping,
and answering a request that is not there."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from darkroom.social import account_edits
from darkroom.web.pages.requests_page import REQUESTS_PER_PAGE
from tests.social.rows import make_account, make_follow
from tests.web.pages.site import PASSWORD, Site
from tests.web.pages.test_post_page import HTMX, XSS, make_private, sign_in
from tests.web.pages.test_tag_page import clean

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def rows(html: str) -> list[str]:
    """The handles of the requests listed, in order."""
    return re.findall(r'<li class="request" id="request-([^"]+)">', html)


def test_accept_and_reject_requests_with_and_without_htmx(client: TestClient, site: Site) -> None:
    assert client.get("/requests").headers["location"] == "/login"  # signed out
    site.join("ben")
    site.join("cara")
    cara = site.viewer("cara")
    with site.engine.begin() as conn:
        account_edits.update_account(conn, cara, account_edits.AccountChanges(display_name=XSS), "display_name")
    token = sign_in(client, site, "ana")
    post_id = site.photo_post("ana", "for followers")
    make_private(site, "ana")
    assert "No one is waiting" in client.get("/requests").text
    site.follow("ben", "ana")
    site.follow("cara", "ana")
    page = client.get("/requests")
    assert page.status_code == 200 and rows(page.text) == ["cara", "ben"]  # newest request first
    clean(page.text)
    assert XSS not in page.text and '<span class="name">&lt;script&gt;alert(1)&lt;/script&gt;</span>' in page.text
    assert page.text.count(f'name="csrf_token" value="{token}"') >= 4  # every form (and the header's log out)
    assert 'hx-post="/requests/ben/accept" hx-target="closest li" hx-swap="outerHTML"' in page.text

    assert client.post("/requests/ben/accept", data={}, headers=HTMX).status_code == 403  # no CSRF token
    accepted = client.post("/requests/ben/accept", data={"csrf_token": token}, headers=HTMX)
    assert accepted.status_code == 200 and accepted.headers["cache-control"] == "no-store"
    assert accepted.text.startswith('<li class="request answered" id="request-ben">')
    assert "follows you now" in accepted.text
    assert 'action="/@ben/follow"' in accepted.text and ">Follow back</button>" in accepted.text

    rejected = client.post("/requests/cara/reject", data={"csrf_token": token})  # without JavaScript
    assert rejected.status_code == 303 and rejected.headers["location"] == "/requests"
    assert rows(client.get("/requests").text) == []
    again = client.post("/requests/cara/reject", data={"csrf_token": token})
    assert again.status_code == 404 and "no follow request from @cara" in again.text

    client.post("/logout", data={"csrf_token": token})
    assert client.post("/login", data={"login": "ben", "password": PASSWORD}).status_code == 303
    assert f'href="/p/{post_id}"' in client.get("/@ana").text  # ben follows ana now: her grid is his to see
    assert rows(client.get("/requests").text) == []  # requests are one's own


def test_requests_page_at_the_page_size_with_the_apis_cursor(client: TestClient, site: Site) -> None:
    sign_in(client, site, "ana")
    ana = site.viewer("ana")
    handles = [f"fan{i:02d}" for i in range(REQUESTS_PER_PAGE + 1)]  # oldest request first
    with site.engine.begin() as conn:
        for handle in handles[:-1]:
            make_follow(conn, make_account(conn, handle), ana.account_id, state="requested")
    full = client.get("/requests").text
    assert rows(full) == handles[-2::-1] and "More requests" not in full  # exactly a page: no next one
    with site.engine.begin() as conn:
        make_follow(conn, make_account(conn, handles[-1]), ana.account_id, state="requested")
    first = client.get("/requests").text
    assert rows(first) == handles[:0:-1] and "More requests" in first
    found = re.search(r'class="more" href="(/requests\?cursor=[^"]+)"', first)
    assert found is not None
    href = found.group(1).replace("&amp;", "&")
    rest = client.get(href, headers=HTMX)  # htmx: the next rows alone
    assert "<html" not in rest.text and rows(rest.text) == ["fan00"] and "More requests" not in rest.text
    assert rows(client.get(href).text) == ["fan00"]  # without JavaScript: the whole page from there
    assert client.get("/requests?cursor=forged").status_code == 400
    with TestClient(site.app, base_url="http://testserver", follow_redirects=False) as other:
        sign_in(other, site, "zoe")
        assert other.get(href).status_code == 400  # ana's cursor is not for zoe's list
