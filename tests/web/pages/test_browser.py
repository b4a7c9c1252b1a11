"""The web pages in a real browser: Debian's Chromium driven by Playwright (pytest-playwright's
session-wide ``browser``), against the app served by uvicorn on a free port.

Two people sign up through the forms; one follows the other and a ready photo post is made
through the domain (compose is a later slice); the follower's feed shows it with its image
loaded, the XSS caption as text, a like that updates the count in place (no reload, and by
keyboard too), then logging out. Every page is checked for CSP violations and screenshotted at
390x844 and 1440x900 into ``artefacts/``.

A video post (a 3 s synthetic clip packaged as two HLS rungs, a poster and a storyboard by the
media functions, once per run: ``conftest.clip``) of a private account plays in its follower's feed through hls.js
from signed URLs: muted autoplay in view, paused out of view, the quality picker, storyboard
thumbnails while pointing at or moving the seek bar, sound on a press.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.web.pages.a11y import assert_accessible
from tests.web.pages.site import PASSWORD, Site, serve
from tests.web.pages.test_post_page import make_private

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


def test_search_as_one_types_a_hashtag_page_and_a_follow_request(site: Site, browser: Browser, artefacts: Path) -> None:
    site.join("cara")
    public = site.photo_post("cara", "#sunset at the pier")
    with serve(site) as base, person(browser, base) as ana, person(browser, base) as ben:
        sign_up(ana, "ana")
        sign_up(ben, "ben")
        hidden = site.photo_post("ana", "#sunset for friends")
        make_private(site, "ana")
        page = ben.page

        page.goto("/")  # the header's box by keyboard: the skip link, the brand, then the box
        for _ in range(3):
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "site-search-q"
        page.keyboard.type("ana")
        page.keyboard.press("Enter")  # a plain GET form: the search page with the results
        expect(page).to_have_url(re.compile(r"/search\?q=ana$"))
        expect(page.locator("#search-results").get_by_role("link", name="ana @ana (private)")).to_be_visible()

        _htmx_ready(page)
        page.evaluate("window.__same_page = true")  # gone if anything reloads the page
        box = page.get_by_role("searchbox", name="Accounts and hashtags")
        box.fill("")
        box.press_sequentially("#sun")  # as one types: the results swapped in, the URL following
        tag_link = page.locator("#search-results").get_by_role("link", name="#sunset")
        expect(tag_link).to_be_visible()
        expect(page.get_by_role("status").filter(has_text="1 hashtag found")).to_have_count(1)
        expect(page).to_have_url(re.compile(r"/search\?q=%23sun$"))
        assert page.evaluate("window.__same_page") is True
        assert_accessible(ben.page, "search")
        shoot(ben, artefacts, "search")
        box.fill(XSS)  # shown as text, never run
        expect(page.locator("#search-results")).to_contain_text(f"Nothing found for “{XSS}”")
        assert_accessible(ben.page, "search-nothing")
        shoot(ben, artefacts, "search-nothing")

        box.fill("#sunset")
        expect(page.get_by_role("status").filter(has_text="1 hashtag found")).to_have_count(1)
        tag_link.click()  # the hashtag page: cara's post; ana's is private and ben does not follow her
        expect(page).to_have_url(re.compile(r"/tags/sunset$"))
        expect(page.get_by_role("heading", name="#sunset", exact=True)).to_be_visible()
        expect(page.get_by_text("2 posts")).to_be_visible()
        grid = page.locator("#grid .tile a")
        expect(grid).to_have_count(1)
        expect(grid.first).to_have_attribute("href", f"/p/{public}")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=grid.locator("img").element_handle())
        assert_accessible(ben.page, "tag")
        shoot(ben, artefacts, "tag")

        page.goto("/@ana")
        _htmx_ready(page)
        page.get_by_role("button", name="Follow").click()
        expect(page.get_by_role("button", name="Requested to follow @ana: withdraw")).to_be_visible()

        mine = ana.page  # ana answers from her profile's link to her requests
        mine.goto("/@ana")
        mine.get_by_role("link", name="Follow requests").click()
        expect(mine).to_have_url(re.compile(r"/requests$"))
        row = mine.locator("#request-ben")
        expect(row.get_by_role("link", name="Ben @ben")).to_be_visible()
        assert_accessible(ana.page, "requests")
        shoot(ana, artefacts, "requests")
        _htmx_ready(mine)
        mine.evaluate("window.__same_page = true")
        row.get_by_role("button", name="Accept @ben").click()
        expect(row).to_contain_text("@ben follows you now.")  # the row swapped in place
        expect(row.get_by_role("button", name="Follow back")).to_be_visible()
        assert mine.evaluate("document.activeElement.className") == "request-done"  # focus stays in the row
        assert mine.evaluate("window.__same_page") is True
        assert_accessible(ana.page, "requests-accepted")
        shoot(ana, artefacts, "requests-accepted")

        page.goto("/tags/sunset")  # a follower now: ana's post too, newest first
        expect(grid).to_have_count(2)
        expect(grid.first).to_have_attribute("href", f"/p/{hidden}")
        for who in (ana, ben):
            assert who.violations() == [] and who.dialogs == []


def _htmx_ready(page: Page) -> None:
    """Wait until htmx is loaded and has processed the page (the document's load has fired)."""
    page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")


def test_a_private_video_plays_adaptively_with_storyboard_and_quality(
    site: Site, browser: Browser, artefacts: Path, clip: dict[str, Any]
) -> None:
    site.join("ana")
    site.make_private("ana")  # so every media URL of the post is signed, the playlists' too
    with serve(site) as base, person(browser, base) as ben:
        sign_up(ben, "ben")
        site.follow("ben", "ana")
        site.accept("ana", "ben")
        for i in range(3):  # below the video: room to scroll it out of view
            site.photo_post("ana", f"photo {i}", size=(300, 200))
        page = ben.page
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto("/")  # photos only: neither the player nor hls.js is fetched
        _htmx_ready(page)
        assert not [url for url in requested if "/player.js" in url or "/hls" in url]
        post_id = site.video_post("ana", "a short clip #motion", clip)
        answer = page.goto("/")
        assert answer is not None
        html = answer.text()
        assert re.search(r'<source src="/v1/media/signed/\d+/[\w-]+/pkg/[0-9a-f]{64}/hls/master\.m3u8"', html)
        assert re.search(r'data-storyboard="/v1/media/signed/\d+/[\w-]+/pkg/[0-9a-f]{64}/storyboard\.vtt"', html)
        figure = page.locator(f"#post-{post_id} figure.video")
        video = figure.locator("video")
        expect(video).to_have_attribute("width", "320")
        expect(video).to_have_attribute("height", "180")
        poster_box = video.bounding_box()  # the poster's box, before a byte of video

        # muted autoplay in view, through hls.js, one of the two levels loaded
        expect(figure).to_have_attribute("data-engine", "hls.js")
        assert [url for url in requested if url.endswith(("/player.js", "/vendor/hls.min.mjs"))]
        handle = video.element_handle()
        page.wait_for_function("v => !v.paused && v.currentTime > 0.5", arg=handle)
        assert video.evaluate("v => v.muted") is True
        expect(figure).to_have_attribute("data-levels", "180 90")
        expect(figure).to_have_attribute("data-level", re.compile(r"^(180|90)$"))
        assert video.bounding_box() == poster_box  # no layout shift once it plays

        quality = figure.get_by_label("Quality")
        expect(quality.locator("option")).to_have_text([re.compile(r"^Auto \((180|90)p\)$"), "180p", "90p"])
        quality.select_option(label="90p")
        expect(figure).to_have_attribute("data-level", "90")
        page.wait_for_function("v => v.videoHeight === 90", arg=handle)  # its frames on the screen
        at = video.evaluate("v => v.currentTime")
        page.wait_for_function("([v, at]) => Math.abs(v.currentTime - at) > 0.3", arg=[handle, at])  # still playing
        assert_accessible(ben.page, "video-feed")
        shoot(ben, artefacts, "video-feed")

        # pointing at the seek bar shows the storyboard tile of that time (the third: 2 s)
        page.set_viewport_size(DESKTOP)
        seek = figure.get_by_role("slider", name="Seek")
        bar = seek.bounding_box()
        assert bar is not None
        with page.expect_response(re.compile(r"/storyboard-001\.jpg$")) as sheet:
            page.mouse.move(bar["x"] + bar["width"] * 0.8, bar["y"] + bar["height"] / 2)
        assert sheet.value.status == 200 and "/v1/media/signed/" in sheet.value.url
        thumb = figure.locator(".player-thumb")
        expect(thumb).to_be_visible()
        expect(thumb).to_have_text("0:02")
        assert thumb.evaluate("t => getComputedStyle(t).backgroundPosition") == "-320px 0px"
        page.screenshot(path=artefacts / "video-storyboard-1440x900.png")
        page.mouse.move(0, 0)
        expect(thumb).to_be_hidden()
        seek.focus()  # by keyboard: Home moves to the start and shows its tile
        page.keyboard.press("Home")
        expect(thumb).to_have_text("0:00")
        assert thumb.evaluate("t => getComputedStyle(t).backgroundPosition") == "0px 0px"
        seek.blur()
        expect(thumb).to_be_hidden()

        # out of view it pauses, back in view it plays again (still muted)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_function("v => v.paused", arg=handle)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_function("v => !v.paused", arg=handle)

        # a press for sound; then it has sound, a click on it pauses, and Play plays it again
        sound = figure.get_by_role("button", name="Sound")
        expect(sound).to_have_attribute("aria-pressed", "false")
        sound.click()
        expect(sound).to_have_attribute("aria-pressed", "true")
        assert video.evaluate("v => v.muted") is False
        video.click()
        page.wait_for_function("v => v.paused", arg=handle)
        play = figure.get_by_role("button", name="Play")
        play.click()
        page.wait_for_function("v => !v.paused && !v.muted", arg=handle)
        expect(figure.get_by_role("button", name="Pause")).to_be_visible()

        ben.page.goto(f"/p/{post_id}")  # the post page plays it too
        expect(page.locator("figure.video")).to_have_attribute("data-level", re.compile(r"^(180|90)$"))
        assert_accessible(ben.page, "video-post")
        shoot(ben, artefacts, "video-post")
        assert ben.violations() == [] and ben.dialogs == []
