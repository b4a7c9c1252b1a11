"""The web pages in a real browser: Debian's Chromium driven by Playwright (pytest-playwright's
session-wide ``browser``), against the app served by uvicorn on a free port.

Two people sign up through the forms; one follows the other and a ready photo post is made
through the domain (compose is a later slice); the follower's feed shows it with its image
loaded, the XSS caption as text, a like that updates the count in place (no reload, and by
keyboard too), then logging out. Every page is checked for CSP violations and screenshotted at
390x844 and 1440x900 into ``artefacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.web.pages.a11y import assert_accessible
from tests.web.pages.site import PASSWORD, Site, serve

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
XSS = "<script>alert(1)</script>"
# the browser reports every violation as a DOM event; this listener is Playwright's (CDP), not the page's
_COLLECT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  (window.__violations = window.__violations || []).push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@dataclass
class Person:
    """A browser tab of its own (own cookies), and what went wrong in it."""

    page: Page
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations || []")
        return found + [text for text in self.console if "Content Security Policy" in text]


@contextmanager
def person(browser: Browser, base_url: str) -> Iterator[Person]:
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.add_init_script(_COLLECT_VIOLATIONS)
    page = context.new_page()
    who = Person(page)

    def on_console(message: ConsoleMessage) -> None:
        who.console.append(message.text)

    page.on("console", on_console)
    page.on("dialog", lambda dialog: (who.dialogs.append(dialog.message), dialog.dismiss()))
    try:
        yield who
    finally:
        context.close()


def shoot(who: Person, artefacts: Path, name: str) -> None:
    """Screenshots of the page as it is, at phone and desktop sizes."""
    for size, label in ((PHONE, "390x844"), (DESKTOP, "1440x900")):
        who.page.set_viewport_size(size)
        who.page.screenshot(path=artefacts / f"{name}-{label}.png", full_page=True)


def sign_up(who: Person, handle: str) -> None:
    page = who.page
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Email").fill(f"{handle}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("link", name=f"@{handle}")).to_be_visible()


def test_sign_up_follow_see_a_photo_like_it_and_log_out(site: Site, browser: Browser, artefacts: Path) -> None:
    with serve(site) as base, person(browser, base) as ana, person(browser, base) as ben:
        first = ana.page.goto("/")
        assert first is not None and "script-src 'self'" in first.headers["content-security-policy"]
        expect(ana.page.get_by_role("heading", name="Log in")).to_be_visible()
        assert_accessible(ana.page)
        shoot(ana, artefacts, "login")
        ana.page.goto("/signup")
        assert_accessible(ana.page)
        shoot(ana, artefacts, "signup")
        sign_up(ana, "ana")
        sign_up(ben, "ben")
        assert_accessible(ben.page)
        shoot(ben, artefacts, "feed-empty")

        site.follow("ben", "ana")
        post_id = site.photo_post("ana", f"{XSS} golden hour #sunset with @ben")
        page = ben.page
        answer = page.goto("/")
        assert answer is not None and answer.headers["x-content-type-options"] == "nosniff"
        post = page.locator(f"#post-{post_id}")
        expect(post.get_by_role("link", name="Ana @ana")).to_be_visible()
        image = post.locator("img")
        expect(image).to_have_attribute("width", "600")
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        assert image.evaluate("img => img.naturalWidth") == 600
        expect(post.locator(".caption")).to_contain_text(f"{XSS} golden hour #sunset with @ben")
        expect(post.get_by_role("link", name="#sunset")).to_have_attribute("href", "/tags/sunset")
        expect(post.locator("time")).to_have_text("now")
        assert_accessible(ben.page)
        shoot(ben, artefacts, "feed")

        _htmx_ready(page)  # a click before htmx took the page over would post the plain form
        page.evaluate("window.__same_page = true")  # gone if anything reloads the page
        like = post.locator("form.like button")
        expect(like).to_have_attribute("aria-pressed", "false")
        like.click()
        expect(post.locator("form.like .count")).to_have_text("1")
        expect(post.locator("form.like button")).to_have_attribute("aria-pressed", "true")
        post.locator("form.like button").focus()  # by keyboard: Enter on the focused button takes it back
        page.keyboard.press("Enter")
        expect(post.locator("form.like .count")).to_have_text("0")
        assert page.evaluate("window.__same_page") is True

        page.goto(f"/p/{post_id}")  # the post at its own URL, and its author's profile
        expect(page.get_by_role("heading", name="Comments")).to_be_visible()
        assert_accessible(page)
        shoot(ben, artefacts, "post")
        page.goto("/@ana")
        expect(page.locator(f"a[href='/p/{post_id}']")).to_be_visible()
        assert_accessible(page)
        shoot(ben, artefacts, "profile")

        page.goto("/")  # by keyboard from the top: the skip link first, then the feed
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "/@ana"  # the first post's author

        for who in (ana, ben):
            assert who.violations() == [] and who.dialogs == []  # the script tag never ran

        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        assert not [c for c in page.context.cookies() if c["name"] == "darkroom_session"]
        page.goto("/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        assert ben.violations() == []


def test_more_posts_load_in_place_as_the_feed_scrolls(site: Site, browser: Browser, artefacts: Path) -> None:
    site.join("ana")
    made = [site.photo_post("ana", f"post {i}", size=(300, 200)) for i in range(21)]
    with serve(site) as base, person(browser, base) as ben:
        sign_up(ben, "ben")
        site.follow("ben", "ana")  # ben's feed was built empty at sign-up: follow, then fan out the posts again
        for post_id in made:
            site.fan_out(post_id)
        page = ben.page
        page.goto("/")
        posts = page.locator("article.post")
        expect(posts).to_have_count(20)
        assert posts.first.get_attribute("id") == f"post-{made[-1]}"
        _htmx_ready(page)  # a click before htmx took the page over would post the plain form
        page.evaluate("window.__same_page = true")
        more = page.get_by_role("link", name="More posts")
        expect(more).to_have_attribute("href", re.compile(r"^/\?cursor="))
        more.scroll_into_view_if_needed()  # revealed: htmx fetches the next page and swaps it in
        expect(posts).to_have_count(21)
        assert posts.last.get_attribute("id") == f"post-{made[0]}"
        expect(more).to_have_count(0)  # no page after the last
        assert page.evaluate("window.__same_page") is True
        assert ben.violations() == []
        assert_accessible(page)
        shoot(ben, artefacts, "feed-more")


def _htmx_ready(page: Page) -> None:
    """Wait until htmx is loaded and has processed the page (the document's load has fired)."""
    page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")
