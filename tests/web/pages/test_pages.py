"""The web pages over HTTP, without a browser: the security headers and CSP on every page, forms
(sign up, log in, log out) with their refusals, the same-origin and CSRF rules, the feed's HTML
(escaped captions, sized photos, links), liking with and without htmx, and the static files'
caching and budget."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from darkroom.social import credentials
from tests.web.pages.site import PASSWORD, Site

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
pytestmark = SQLITE
XSS = "<script>alert(1)</script>"
BUDGET_BYTES = 150 * 1024  # the feed page's JS + CSS (the budget)


class _Links(HTMLParser):
    """The scripts and stylesheets a page loads, and its forms' hidden CSRF tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.scripts_inline = 0
        self.handlers: list[str] = []
        self.csrf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "script":
            if found.get("src"):
                self.assets.append(str(found["src"]))
            else:
                self.scripts_inline += 1
        if tag == "link" and found.get("rel") == "stylesheet":
            self.assets.append(str(found["href"]))
        if tag == "input" and found.get("name") == "csrf_token":
            self.csrf.append(str(found.get("value")))


def _parse(html: str) -> _Links:
    links = _Links()
    links.feed(html)
    return links


def _sign_up(client: TestClient, handle: str) -> None:
    answer = client.post("/signup", data={"handle": handle, "email": f"{handle}@example.com", "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    assert "darkroom_session" in client.cookies


def test_every_page_has_a_strict_csp_and_the_usual_headers(client: TestClient, site: Site) -> None:
    pages = [client.get("/"), client.get("/login"), client.get("/signup")]
    _sign_up(client, "ana")
    pages.append(client.get("/"))
    for page in pages:
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        links = _parse(page.text)
        assert links.scripts_inline == 0 and links.handlers == [] and ' style="' not in page.text
        assert all(url.startswith("/static/") for url in links.assets)  # nothing from elsewhere
    assert pages[-1].headers["cache-control"] == "private, no-cache" and "Cookie" in pages[-1].headers["vary"]
    assert pages[1].headers["cache-control"] == "no-store"


def test_static_files_are_content_addressed_and_cached_for_a_year(client: TestClient) -> None:
    links = _parse(client.get("/login").text)
    assert len(links.assets) == 3  # app.css, htmx, app.js
    total = 0
    for url in links.assets:
        answer = client.get(url, headers={"Accept-Encoding": "identity"})
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-type"].startswith(("text/css", "text/javascript"))
        total += len(answer.content)
        digest, name = url.removeprefix("/static/").split("/", 1)
        assert client.get(f"/static/{'0' * len(digest)}/{name}").status_code == 404  # another version
    assert total <= BUDGET_BYTES
    assert client.get("/static/0/nothing.js").status_code == 404
    zipped = client.get(links.assets[0], headers={"Accept-Encoding": "gzip"})
    assert zipped.headers.get("content-encoding") == "gzip"


def test_sign_up_refusals_show_the_form_again_with_the_domains_message(client: TestClient, site: Site) -> None:
    site.join("ana")
    taken = client.post("/signup", data={"handle": "ana", "email": "a2@example.com", "password": PASSWORD})
    assert taken.status_code == 409 and "ana" in taken.text and 'value="a2@example.com"' in taken.text
    bad = client.post("/signup", data={"handle": XSS, "email": "x@example.com", "password": PASSWORD})
    assert bad.status_code == 400 and "<script>" not in bad.text and "&lt;script&gt;" in bad.text
    short = client.post("/signup", data={"handle": "ben", "email": "ben@example.com", "password": "short"})
    assert short.status_code == 400 and 'role="alert"' in short.text
    assert "darkroom_session" not in client.cookies


def test_log_in_and_out(client: TestClient, site: Site) -> None:
    site.join("ana")
    wrong = client.post("/login", data={"login": "ana", "password": "not the password"})
    assert wrong.status_code == 401 and "wrong handle, email or password" in wrong.text
    assert client.post("/login", data={"login": "ana", "password": PASSWORD}).status_code == 303
    session = client.cookies["darkroom_session"]
    home = client.get("/")
    assert "Log out" in home.text and "@ana" in home.text
    assert client.get("/login").status_code == 303  # signed in already
    token = _parse(home.text).csrf[0]
    assert client.post("/logout", data={}).status_code == 403  # the session's CSRF token is needed
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and "darkroom_session" not in client.cookies
    with site.engine.begin() as conn:
        assert credentials.identify(conn, session) is None  # revoked, not only forgotten
    assert 'action="/login"' in client.get("/").text


def test_forms_posted_from_another_site_are_refused(client: TestClient, site: Site) -> None:
    site.join("ana")
    for origin in ("https://evil.example", "null"):
        refused = client.post("/login", data={"login": "ana", "password": PASSWORD}, headers={"Origin": origin})
        assert refused.status_code == 403 and "darkroom_session" not in client.cookies
    by_referer = client.post(
        "/signup", data={"handle": "eve", "email": "e@example.com", "password": PASSWORD},
        headers={"Referer": "https://evil.example/form"},
    )  # fmt: skip
    assert by_referer.status_code == 403
    ours = client.post("/login", data={"login": "ana", "password": PASSWORD}, headers={"Origin": "http://testserver"})
    assert ours.status_code == 303


def test_the_feed_shows_posts_escaped_with_sized_photos_and_links(client: TestClient, site: Site) -> None:
    site.join("ana")
    _sign_up(client, "ben")
    site.follow("ben", "ana")
    post_id = site.photo_post("ana", f"{XSS} at #Sunset with @ben & friends")
    html = client.get("/").text
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="/tags/sunset">#Sunset</a>' in html and '<a href="/@ben">@ben</a>' in html
    img = re.search(r"<img [^>]*>", html)
    assert img is not None
    assert 'width="600"' in img.group() and 'height="400"' in img.group()
    assert 'alt="&lt;script&gt;alert(1)&lt;/script&gt; at #Sunset with @ben &amp; friends"' in img.group()
    src = re.search(r'src="([^"]+)"', img.group())
    assert src is not None and src.group(1).startswith("/v1/media/")
    assert client.get(src.group(1)).headers["content-type"] == "image/jpeg"
    assert f'id="post-{post_id}"' in html and "0 comments" in html


def test_liking_answers_the_form_inside_to_htmx_and_a_redirect_without_it(client: TestClient, site: Site) -> None:
    site.join("ana")
    _sign_up(client, "ben")
    site.follow("ben", "ana")
    post_id = site.photo_post("ana", "light")
    token = _parse(client.get("/").text).csrf[-1]
    htmx = {"HX-Request": "true"}
    liked = client.post(f"/posts/{post_id}/like", data={"csrf_token": token, "liked": "true"}, headers=htmx)
    # the inside of the form, which stays put: the next press asks for the other state
    assert liked.status_code == 200 and liked.text.lstrip().startswith('<input type="hidden" name="csrf_token"')
    assert '<input type="hidden" name="liked" value="false">' in liked.text and "<form" not in liked.text
    assert '<span class="count" aria-hidden="true">1<' in liked.text
    assert "content-security-policy" in liked.headers
    again = client.post(f"/posts/{post_id}/like", data={"csrf_token": token, "liked": "true"}, headers=htmx)
    assert '<span class="count" aria-hidden="true">1<' in again.text  # the state asked for: no second like
    plain = client.post(f"/posts/{post_id}/like", data={"csrf_token": token, "liked": "false"})
    assert plain.status_code == 303 and plain.headers["location"] == f"/#post-{post_id}"
    feed = client.get("/").text
    assert '<input type="hidden" name="liked" value="true">' in feed and f'action="/posts/{post_id}/like"' in feed
    odd = client.post(f"/posts/{post_id}/like", data={"csrf_token": token, "liked": "<b>maybe</b>"})
    assert odd.status_code == 422 and "liked must be true or false, not &#39;&lt;b&gt;maybe&lt;/b&gt;&#39;" in odd.text
    assert client.post(f"/posts/{post_id}/like", data={}).status_code == 403  # no CSRF token
    missing = client.post("/posts/01ARZ3NDEKTSV4RRFFQ69G5FAV/like", data={"csrf_token": token})
    assert missing.status_code == 404 and "<h1>Not available</h1>" in missing.text


def test_photos_below_the_first_two_load_lazily(client: TestClient, site: Site) -> None:
    site.join("ana")
    _sign_up(client, "ben")
    site.follow("ben", "ana")
    for i in range(3):
        site.photo_post("ana", f"post {i}", size=(120, 80))
    images = re.findall(r"<img [^>]*>", client.get("/").text)
    assert ["loading=" in img for img in images] == [False, False, True]
