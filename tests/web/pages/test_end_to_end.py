"""The issue's end-to-end test: the whole platform as ``darkroom up`` runs it, driven through its web
pages by a real Chromium, with real processing.

``LocalPlatform`` with its social parts (what ``darkroom up`` starts): a private redis-server, an
engine, a worker, the social runner and the HTTP server, each its own process, under a fresh home.
Nothing is recorded by hand: the photo's renditions and the clip's streaming workflow (inspect,
complexity, ladder, encode, quality, validate, package, poster, storyboard) run in the worker, the
social runner settles the uploads and posts and fans them out.

Two people sign up through the forms; @ben follows @ana with her profile's Follow button; @ana
posts a photo (multipart) and a 1.5 s 240p clip (tus; the streaming profile takes nothing smaller)
through the compose page, each bar reaching 100 % and each post's status following processing live
to ready; @ben's feed shows both: the clip plays through hls.js (a level loaded, ``currentTime``
advancing), the photo is its rendition (loaded, the BlurHash placeholder hidden), the ``<script>``
caption is text; a like and a comment change the counts in place. @ana turns private in her
settings and @cara, who does not follow her, sees her card only and a 404 for her post.
No CSP violation and no dialog anywhere; axe on every state.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from darkroom.config import Settings
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.media.synthetic import make_clip
from darkroom.social.processing_steps import STEP_LABELS
from tests.web.pages.a11y import assert_accessible
from tests.web.pages.site import photo_jpeg
from tests.web.pages.test_browser import XSS, Person, person, shoot, sign_up

# processing runs for real: a 1.5 s clip through the streaming profile takes 10 to 30 s here
READY_MS = 120_000
# what the compose page's status lines read, kept as they change (a MutationObserver, no reload)
_WATCH_STATUS = """
() => {
  window.__lines = [];
  window.__same_page = true;
  const list = document.getElementById("status-files");
  new MutationObserver(() => {
    for (const li of list.querySelectorAll("li")) {
      if (window.__lines.at(-1) !== li.textContent) window.__lines.push(li.textContent);
    }
  }).observe(list, { childList: true, subtree: true, characterData: true });
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


def _until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll ``condition`` until it holds: a condition with a deadline, not a sleep."""
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, f"{what}: not reached in {timeout_s:.0f} s"
        time.sleep(0.1)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[str]:
    """The platform ``darkroom up`` starts (one engine, one worker), its own redis-server and
    SQLite under a fresh home; its HTTP base URL once the web app answers."""
    address = f"127.0.0.1:{_free_port()}"
    settings = replace(
        Settings.from_env({}), home=tmp_path / "home", grpc_addr="127.0.0.1:0", http_addr=address,
        redis_url="", database_url="",
    )  # fmt: skip
    up = LocalPlatform(
        settings, PlatformConfig(engines=1, workers=1, concurrency=2, metrics=False, grace_s=5, social=True)
    )
    up.start()
    try:
        http = next(child for child in up.children if child.name == "http-1")
        base = f"http://{address}"

        def serving() -> bool:
            assert http.alive, f"the HTTP server exited: {http.last_log_line()}"
            return _answers(f"{base}/login")

        _until(serving, "the web app to answer")
        yield base
    finally:
        up.stop()


def _compose(who: Person, files: list[Path], caption: str) -> list[str]:
    """Post ``files`` with ``caption`` through the compose page; wait for "ready" and answer the
    status lines it showed on the way (no reload in between)."""
    page = who.page
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Photos and videos").set_input_files(files)
    expect(page.locator("#picked li")).to_have_count(len(files))
    page.get_by_label("Caption").fill(caption)
    page.evaluate(_WATCH_STATUS)
    page.get_by_role("button", name="Share").click()
    expect(page.locator("#picked .pct")).to_have_text(["100 %"] * len(files))
    expect(page.locator("#status-text")).to_have_text("Ready: your post is in your feed.", timeout=READY_MS)
    expect(page.locator("#status-files li")).to_have_text([f"{f.name}: ready" for f in files])
    assert page.evaluate("window.__same_page") is True
    lines: list[str] = page.evaluate("window.__lines")
    return lines


def _in_feed(page: Page, posts: int) -> None:
    """Wait until the feed holds ``posts`` posts (the social runner fans them out once ready)."""
    _until(lambda: page.request.get("/").text().count('<article class="post"') >= posts, "the posts in the feed")
    page.goto("/")


@pytest.mark.slow  # 25 to 40 s: a platform's processes start and a clip runs the streaming profile
@pytest.mark.timeout(300)
def test_sign_up_follow_compose_process_play_react_and_hide(
    platform: str, browser: Browser, artefacts: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "dawn.jpg"
    photo.write_bytes(photo_jpeg(600, 400))
    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.5, width=426, height=240, fps=25, timeout_s=60)
    with person(browser, platform) as ana, person(browser, platform) as ben, person(browser, platform) as cara:
        first = ben.page.goto("/")
        assert first is not None and "script-src 'self'" in first.headers["content-security-policy"]
        sign_up(ana, "ana")
        sign_up(ben, "ben")

        page = ben.page  # @ben follows @ana from her profile
        page.goto("/@ana")
        page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")
        page.get_by_role("button", name="Follow", exact=True).click()
        expect(page.get_by_role("button", name="Following @ana: unfollow")).to_be_visible()

        # @ana posts a photo, then a clip; each status follows its processing to ready, live
        photo_lines = _compose(ana, [photo], f"{XSS} first light #dawn")
        assert "dawn.jpg: ready" in photo_lines
        assert_accessible(ana.page, "compose, the photo ready")
        clip_lines = _compose(ana, [clip], "the harbour, moving #dawn")
        steps = [m for line in clip_lines if (m := re.fullmatch(r"clip\.mp4: ([a-z ]+) (\d+) %", line))]
        shown = [int(m[2]) for m in steps]
        assert shown and shown == sorted(shown) and clip_lines[-1] == "clip.mp4: ready", clip_lines  # live, onwards
        # the step it is at, by name (which ones a 0.5 s poll catches depends on the machine's speed)
        assert {m[1] for m in steps} <= {*STEP_LABELS.values(), "processing"} and steps, clip_lines
        assert_accessible(ana.page, "compose, the clip ready")
        shoot(ana, artefacts, "e2e-compose-ready")

        # @ben's feed: the clip plays through hls.js, the photo is its rendition
        _in_feed(page, 2)
        video_post = page.locator("article.post", has=page.locator("figure.video"))
        photo_post = page.locator("article.post", has_not=page.locator("figure.video"))
        expect(video_post).to_have_count(1)
        figure = video_post.locator("figure.video")
        expect(figure).to_have_attribute("data-engine", "hls.js")
        video = figure.locator("video").element_handle()
        page.wait_for_function("v => !v.paused && v.currentTime > 0.2", arg=video)
        levels = (figure.get_attribute("data-levels") or "").split()
        assert levels, "hls.js listed no level"
        expect(figure).to_have_attribute("data-level", re.compile("^(" + "|".join(levels) + ")$"))
        image = photo_post.locator("figure.media img")
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        assert "/v1/media/" in (image.get_attribute("src") or "")
        expect(photo_post.locator("figure.media")).to_have_class(re.compile(r"\bloaded\b"))  # the BlurHash hidden
        expect(photo_post.locator(".caption")).to_contain_text(f"{XSS} first light #dawn")
        assert_accessible(page, "the feed with a video and a photo")
        page.evaluate("window.scrollTo(0, 0)")  # the sticky header at the top of a full-page shot
        shoot(ben, artefacts, "e2e-feed")

        # a like and a comment change the counts in place
        page.evaluate("window.__same_page = true")
        photo_post.locator("form.like button").click()
        expect(photo_post.locator("form.like .count")).to_have_text("1")
        photo_post.get_by_label("Add a comment").fill(f"{XSS} lovely")
        photo_post.get_by_role("button", name="Post comment").click()
        expect(photo_post.locator(".comment-list .comment")).to_contain_text(f"{XSS} lovely")
        expect(photo_post.locator("a.comments")).to_have_text("1 comment")
        assert page.evaluate("window.__same_page") is True
        post_href = photo_post.locator("a.when").get_attribute("href")
        assert post_href is not None and post_href.startswith("/p/")

        # @ana turns private: @cara, who does not follow her, sees her card and not her posts
        mine = ana.page
        mine.get_by_role("link", name="Settings").click()
        mine.get_by_label("Private account").check()
        mine.get_by_role("button", name="Save profile").click()
        expect(mine.get_by_text("Your profile is saved.")).to_be_visible()
        sign_up(cara, "cara")
        cara.page.goto("/@ana")
        expect(cara.page.get_by_text("This account is private. Follow it to see its posts.")).to_be_visible()
        expect(cara.page.locator("#grid .tile")).to_have_count(0)
        assert_accessible(cara.page, "a private profile to a non-follower")
        shoot(cara, artefacts, "e2e-private-profile")
        hidden = cara.page.goto(post_href)
        assert hidden is not None and hidden.status == 404
        page.goto("/@ana")  # @ben follows her: her grid still shows him both posts
        expect(page.locator("#grid .tile")).to_have_count(2)

        for who in (ana, ben, cara):
            assert who.violations() == [] and who.dialogs == []  # the <script> captions never ran
