"""The feed's photos, carousel, comments and "new posts" bar in a real Chromium (the helpers of
``test_browser.py``): the BlurHash canvas painted while the image is held back by the test and
hidden once it has loaded (the figure keeps its size), a three-photo post's Next button and arrow
keys moving the carousel and its indicator, a comment added from the feed appearing under the post
with the new count, a post of a photo then a video whose second slide is the player (idle until
Next brings it into view, then playing muted, paused again when the photo is back), and the "new
posts" bar appearing after another post is fanned out (the test asks for the poll with the page's
own event: no waiting 30 s, no sleep) without moving what is on screen, then loading the new post
at the top. Screenshots at both sizes; no CSP violation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.web.pages.a11y import assert_accessible
from tests.web.pages.site import Site, serve
from tests.web.pages.test_browser import DESKTOP, PHONE, _htmx_ready, person, shoot, sign_up

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
_MEDIA = "**/v1/media/**"
# the centre pixel of a canvas: painted means opaque
_PIXEL = "c => Array.from(c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data)"


def test_placeholder_carousel_and_a_comment_from_the_feed(site: Site, browser: Browser, artefacts: Path) -> None:
    site.join("ana")
    with serve(site) as base, person(browser, base) as ben:
        sign_up(ben, "ben")
        site.follow("ben", "ana")
        post_id = site.photos_post("ana", "three at dusk", sizes=[(600, 400), (400, 600), (500, 500)])
        page = ben.page
        held: list[Route] = []
        released = False

        def hold(route: Route) -> None:  # the images wait until the test has seen the placeholders
            if released:
                route.continue_()
            else:
                held.append(route)

        page.route(_MEDIA, hold)
        page.goto("/", wait_until="domcontentloaded")  # "load" waits for the images held back
        post = page.locator(f"#post-{post_id}")
        first = post.locator(".slide").first.locator("figure")
        canvas = first.locator("canvas.blurhash")
        expect(canvas).to_have_class(re.compile(r"\bpainted\b"))  # decoded before any image byte arrived
        expect(canvas).to_be_visible()
        assert canvas.evaluate(_PIXEL)[3] == 255
        expect(first).not_to_have_class(re.compile(r"\bloaded\b"))
        box = first.bounding_box()
        assert box is not None and box["height"] > 100  # width/height reserve the space already
        assert_accessible(ben.page, "feed-placeholder")
        shoot(ben, artefacts, "feed-placeholder")

        released = True  # from here every image passes at once
        for route in held:
            route.continue_()
        expect(first).to_have_class(re.compile(r"\bloaded\b"))
        expect(canvas).to_be_hidden()
        assert first.locator("img").evaluate("img => img.naturalWidth") == 600
        after = first.bounding_box()
        assert after is not None and after["height"] == box["height"]  # no layout shift

        _htmx_ready(page)
        page.evaluate("window.__same_page = true")
        slides = post.locator(".slides")
        dots = post.locator(".dot")
        status = post.locator(".carousel-status")
        previous = post.get_by_role("button", name="Previous photo")
        following = post.get_by_role("button", name="Next photo")
        expect(following).to_be_visible()
        expect(previous).to_be_hidden()  # at the first item
        expect(dots.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
        following.click()
        expect(dots.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
        expect(dots.nth(0)).not_to_have_class(re.compile(r"\bcurrent\b"))
        expect(status).to_have_text("Photo 2 of 3")
        second = post.locator(".slide").nth(1).locator("figure")
        expect(second).to_have_class(re.compile(r"\bloaded\b"))  # lazy: loaded as it came into view
        page.wait_for_function("s => s.scrollLeft === s.clientWidth", arg=slides.element_handle())  # snapped on it
        expect(previous).to_be_visible()
        assert_accessible(ben.page, "feed-carousel")
        shoot(ben, artefacts, "feed-carousel")
        # shoot() resized the window twice: the carousel keeps its item, not its pixel offset
        expect(status).to_have_text("Photo 2 of 3")
        page.wait_for_function("s => s.scrollLeft === s.clientWidth", arg=slides.element_handle())

        slides.focus()  # by keyboard: one item per arrow key
        page.keyboard.press("ArrowRight")
        expect(status).to_have_text("Photo 3 of 3")
        expect(following).to_be_hidden()  # at the last item
        page.keyboard.press("ArrowLeft")
        expect(status).to_have_text("Photo 2 of 3")
        expect(dots.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))

        box_text = post.get_by_label("Add a comment")
        box_text.fill("what a sky <b>wow</b>")
        post.get_by_role("button", name="Post comment").click()
        added = post.locator(f"#comments-list-{post_id} .comment")
        expect(added).to_have_count(1)
        expect(added.first).to_contain_text("@ben what a sky <b>wow</b>")
        expect(post.locator(f"#comment-count-{post_id}")).to_have_text("1 comment")
        expect(post.get_by_label("Add a comment")).to_have_value("")  # a fresh box
        assert page.evaluate("window.__same_page") is True
        assert_accessible(ben.page, "feed-comments")
        shoot(ben, artefacts, "feed-comments")
        assert ben.violations() == [] and ben.dialogs == []


def test_a_photo_then_a_video_the_video_slide_plays_after_next(
    site: Site, browser: Browser, artefacts: Path, clip: dict[str, Any]
) -> None:
    site.join("ana")
    with serve(site) as base, person(browser, base) as ben:
        sign_up(ben, "ben")
        site.follow("ben", "ana")
        post_id = site.items_post("ana", "dusk, then the clip", [(600, 400), clip])
        page = ben.page
        page.goto("/")
        _htmx_ready(page)
        post = page.locator(f"#post-{post_id}")
        slides = post.locator(".slide")
        expect(slides).to_have_count(2)
        expect(slides.nth(0).locator("figure.media picture img")).to_be_visible()
        figure = slides.nth(1).locator("figure.video")
        video = figure.locator("video")
        handle = video.element_handle()
        expect(figure).to_have_attribute("data-engine", "pending")  # taken over, but out of view: idle
        assert video.evaluate("v => v.paused") is True
        expect(post.get_by_role("button", name="Previous item")).to_be_hidden()

        post.get_by_role("button", name="Next item").click()
        expect(post.locator(".carousel-status")).to_have_text("Video 2 of 2")
        expect(figure).to_have_attribute("data-engine", "hls.js")
        page.wait_for_function("v => !v.paused && v.currentTime > 0.5", arg=handle)
        assert video.evaluate("v => v.muted") is True
        expect(figure.get_by_role("slider", name="Seek")).to_be_visible()
        assert_accessible(page, "feed-mixed-carousel")
        shoot(ben, artefacts, "feed-mixed-carousel")

        post.get_by_role("button", name="Previous item").click()  # back to the photo: the video pauses
        expect(post.locator(".carousel-status")).to_have_text("Photo 1 of 2")
        page.wait_for_function("v => v.paused", arg=handle)
        assert ben.violations() == [] and ben.dialogs == []


def test_the_new_posts_bar_appears_without_moving_the_feed_and_loads_them_at_the_top(
    site: Site, browser: Browser, artefacts: Path
) -> None:
    site.join("ana")
    with serve(site) as base, person(browser, base) as ben:
        sign_up(ben, "ben")
        site.follow("ben", "ana")
        shown = [site.photo_post("ana", f"earlier {i}", size=(600, 400)) for i in range(3)]
        page = ben.page
        page.goto("/")
        _htmx_ready(page)
        page.evaluate("window.__same_page = true")
        posts = page.locator("article.post")
        expect(posts).to_have_count(3)
        reading = page.locator(f"#post-{shown[1]}")
        reading.scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, 200)")
        before = reading.bounding_box()
        page.evaluate("document.dispatchEvent(new Event('darkroom:poll'))")  # nothing new yet
        expect(page.locator("#new-posts")).to_be_empty()

        fresh = site.photo_post("ana", "just now")  # posted and fanned out while ben reads
        page.evaluate("document.dispatchEvent(new Event('darkroom:poll'))")
        bar = page.get_by_role("link", name="1 new post")
        expect(bar).to_be_visible()
        assert reading.bounding_box() == before  # the bar floats: what ben reads did not move
        assert_accessible(page, "feed-new-posts-bar")
        assert posts.first.get_attribute("id") == f"post-{shown[-1]}"
        for size, label in ((PHONE, "390x844"), (DESKTOP, "1440x900")):  # what ben sees: the screen, not the page
            page.set_viewport_size(size)
            reading.scroll_into_view_if_needed()
            page.screenshot(path=artefacts / f"feed-new-posts-bar-{label}.png")

        bar.click()
        expect(posts).to_have_count(4)
        assert posts.first.get_attribute("id") == f"post-{fresh}"
        expect(bar).to_have_count(0)
        page.wait_for_function("() => window.scrollY === 0")  # scrolled up to it
        assert page.locator("#new-posts").get_attribute("data-poll-url") == f"/feed/new?since={fresh}"
        page.evaluate("document.dispatchEvent(new Event('darkroom:poll'))")
        expect(page.locator("#new-posts")).to_be_empty()
        assert page.evaluate("window.__same_page") is True
        assert_accessible(ben.page, "feed-new-posts-loaded")
        shoot(ben, artefacts, "feed-new-posts-loaded")
        assert ben.violations() == [] and ben.dialogs == []
