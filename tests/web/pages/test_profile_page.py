"""The profile page over HTTP, without a browser: a private account's posts and lists hidden from
a non-follower and shown to a follower (the domain's rules), escaping, the follow button with and
without htmx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.web.pages.site import Site
from tests.web.pages.test_post_page import HTMX, XSS, accept, make_private, sign_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_private_profile_shows_only_the_card_to_a_non_follower(client: TestClient, site: Site) -> None:
    site.join("ana")
    post_id = site.photo_post("ana", "private light")
    make_private(site, "ana")
    token = sign_in(client, site, "ben")
    page = client.get("/@ana")
    assert page.status_code == 200 and "This account is private" in page.text and f"/p/{post_id}" not in page.text
    assert "This account is private" in client.get("/@ana/followers").text
    follow = client.post("/@ana/follow", data={"csrf_token": token, "following": "true"}, headers=HTMX)
    assert follow.status_code == 200 and ">Requested</button>" in follow.text and "<form" not in follow.text
    assert '<input type="hidden" name="following" value="false">' in follow.text  # the next press withdraws
    accept(site, "ana", "ben")
    shown = client.get("/@ana").text
    assert f'href="/p/{post_id}"' in shown and ">Following</button>" in shown
    assert 'href="/@ben"' in client.get("/@ana/followers").text
    plain = client.post("/@ana/follow", data={"csrf_token": token, "following": "false"})
    assert plain.status_code == 303 and plain.headers["location"] == "/@ana"
    assert "This account is private" in client.get("/@ana").text
    assert client.get("/@nobody").status_code == 404


def test_a_profile_is_escaped_and_needs_csrf_to_follow(client: TestClient, site: Site) -> None:
    site.join("ana")
    site.photo_post("ana", XSS)
    token = sign_in(client, site, "ben")
    page = client.get("/@ana").text
    assert XSS not in page and "&lt;script&gt;" in page and ">Follow</button>" in page
    assert client.post("/@ana/follow", data={}).status_code == 403
    assert client.post("/@ana/follow", data={"csrf_token": token}).status_code == 303
    assert ">Following</button>" in client.get("/@ana").text
    assert client.post("/@ana/follow", data={"csrf_token": token, "following": "true"}).status_code == 303  # again
    assert ">Following</button>" in client.get("/@ana").text  # the state asked for: a repeat changes nothing
    odd = client.post("/@ana/follow", data={"csrf_token": token, "following": "yes"})
    assert odd.status_code == 422 and "following must be true or false, not &#39;yes&#39;" in odd.text
    own = client.get("/@ben").text
    assert '<form class="follow"' not in own and 'href="/requests">Follow requests</a>' in own  # own page: no button
