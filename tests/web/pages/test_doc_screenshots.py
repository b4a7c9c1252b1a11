"""The screenshots of ``docs/web.md``: a small site with something to look at (people with names
and bios, photo posts, a carousel, a video, comments, queued work and stored runs), each page
checked by axe and shot at the size of the viewport.

Run by ``scripts/doc_screenshots.py`` (``make doc-screenshots``), which sets
``DARKROOM_DOC_SHOTS`` to the folder of the raw PNGs and turns them into the WebP files of
``docs/web/``; without it the test is skipped.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Page, expect

import darkroom.queue as dq
from darkroom.cli.demos.samples import Picture, make_picture
from darkroom.media import blurhash
from darkroom.runtime.workflow.store import RunRow, StepRow
from darkroom.social import account_edits, posts, reactions
from darkroom.social.counters import invalidate_posts, recount_accounts, recount_posts
from darkroom.social.viewer import Role
from tests.web.media_app import receive_photo, record_renditions
from tests.web.pages.a11y import assert_accessible
from tests.web.pages.site import PASSWORD, Site, serve
from tests.web.pages.stats_site import ingest_and_run
from tests.web.pages.test_browser import DESKTOP, PHONE, Person, _htmx_ready, person
from tests.web.pages.test_ops_pages import fill_queues
from tests.web.pages.test_stats_browser import history

SHOTS_ENV = "DARKROOM_DOC_SHOTS"
pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.skipif(not os.environ.get(SHOTS_ENV), reason=f"no {SHOTS_ENV}: run scripts/doc_screenshots.py"),
]
_PICTURES = (
    Picture("harbour at dusk", 1080, 720, (250, 150, 60), (40, 50, 140), seed=7),
    Picture("first light", 1080, 1080, (255, 210, 150), (90, 160, 220), seed=3),
    Picture("the pier", 1080, 720, (30, 120, 150), (230, 230, 200), seed=11),
    Picture("low tide", 1080, 720, (200, 190, 160), (60, 90, 110), seed=5),
    Picture("the lighthouse", 1080, 1350, (20, 30, 70), (250, 120, 90), seed=9),
    Picture("gulls", 1080, 720, (150, 200, 230), (250, 250, 250), seed=2),
    Picture("nets", 1080, 1080, (120, 60, 40), (240, 200, 120), seed=4),
    Picture("the ferry", 1080, 720, (60, 140, 120), (240, 240, 220), seed=8),
)


def _jpeg(picture: Picture, folder: Path) -> bytes:
    return make_picture(folder / f"{picture.seed}.jpg", picture).read_bytes()


def _post(site: Site, author: str, caption: str, pictures: list[bytes]) -> str:
    """A ready post of ``pictures`` (their renditions and BlurHash recorded as the loop would)."""
    viewer = site.viewer(author)
    ids = []
    for data in pictures:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        small = np.asarray(image.resize((64, max(1, 64 * image.height // image.width))), dtype=np.uint8)
        upload_id = receive_photo(site.deps, viewer, data)
        made = io.BytesIO()
        image.resize((1080, 1080 * image.height // image.width)).save(made, format="JPEG", quality=80)
        record_renditions(
            site.deps, upload_id, {"w1080.jpg": made.getvalue()}, size=(1080, 1080 * image.height // image.width),
            blurhash=blurhash.encode(small, 4, 3),
        )  # fmt: skip
        ids.append(upload_id)
    with site.engine.begin() as conn:
        post = posts.create_post(conn, viewer, caption=caption, upload_ids=ids)
    site.fan_out(post.id)
    return post.id


def _react(site: Site, comments: list[tuple[str, str, str]], likes: list[tuple[str, str]]) -> None:
    """``comments`` (who, post, text) and ``likes`` (who, post), then the counters recounted as
    their consumer would."""
    viewers = {who: site.viewer(who) for who, *_ in [*comments, *likes, ("ana",)]}
    with site.engine.begin() as conn:
        for who, post_id, text in comments:
            reactions.add_comment(conn, viewers[who], post_id, text)
        for who, post_id in likes:
            reactions.like(conn, viewers[who], post_id)
        ids = {post_id for _, post_id, *_ in [*comments, *likes]}
        recount_posts(conn, ids)
        recount_accounts(conn, [v.account_id for v in viewers.values()])
    invalidate_posts(site.deps.redis, ids)


def _person(site: Site, handle: str, name: str, bio: str, *, role: Role = Role.USER) -> None:
    who = site.join(handle, role=role)
    with site.engine.begin() as conn:
        changes = account_edits.AccountChanges(display_name=name, bio=bio)
        account_edits.update_account(conn, who, changes, "display_name,bio")


def _log_in(who: Person, handle: str) -> None:
    page = who.page
    page.goto("/login")
    page.get_by_label("Handle or email").fill(handle)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name=f"@{handle}")).to_be_visible()


def _shot(page: Page, folder: Path, name: str, *, phone: bool = False) -> None:
    """The top of the screen as a person sees it (the viewport, not the whole page), after axe;
    the page is left at the desktop size."""
    assert_accessible(page, name)
    for size, label in (*(((PHONE, "390x844"),) if phone else ()), (DESKTOP, "1440x900")):
        page.set_viewport_size(size)
        page.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0)")  # no focus ring in the picture
        page.screenshot(path=folder / f"{name}-{label}.png", animations="disabled")


def _store_run(site: Site) -> None:
    """A streaming run half way through its encode, as the engine stores it."""
    now = time.time()
    steps = {
        "inspect": StepRow("inspect", "task", "succeeded", attempts=1, progress=1.0, worker="worker-1@studio",
                           started_at=now - 41.2, ended_at=now - 40.1),
        "complexity": StepRow("complexity", "task", "succeeded", attempts=1, progress=1.0, worker="worker-2@studio",
                              started_at=now - 40.0, ended_at=now - 31.5),
        "ladder": StepRow("ladder", "task", "succeeded", attempts=1, progress=1.0, worker="worker-1@studio",
                          started_at=now - 31.4, ended_at=now - 31.2),
        "encode": StepRow("encode", "map", "running", items_total=12, items_done=7, attempts=1, progress=0.58,
                          worker="worker-2@studio", started_at=now - 31.0, message="1080p chunk 8 of 12"),
        "quality": StepRow("quality", "task", "pending"),
        "package": StepRow("package", "task", "pending"),
    }  # fmt: skip
    run = RunRow(
        id="wf_01m98c2yq3v7e5z8k4d6h1t0rn", name="streaming.video", state="running", inputs={}, priority="preview",
        deadline=now + 260, created_at=now - 42, updated_at=now - 1, started_at=now - 41.5, progress=0.46, steps=steps,
    )  # fmt: skip
    with site.engine.begin() as conn:
        site.deps.workflow_store.create(conn, run)


def _images_loaded(page: Page) -> None:
    page.wait_for_function("() => [...document.images].every(img => img.loading === 'lazy' || img.complete)")


def test_doc_screenshots(
    ops_site: Site, rq: dq.RedisQueue, browser: Browser, clip: dict[str, Any], tmp_path: Path
) -> None:
    folder = Path(os.environ[SHOTS_ENV])
    folder.mkdir(parents=True, exist_ok=True)
    site = ops_site
    _person(site, "ana", "Ana Lima", "Film and light by the sea. Lisbon.")
    _person(site, "ben", "Ben Okafor", "Mostly bridges.")
    _person(site, "olga", "Olga", "Keeps the queues moving.", role=Role.ADMIN)
    for follower in ("ben", "olga"):
        site.follow(follower, "ana")
    jpegs = [_jpeg(p, tmp_path) for p in _PICTURES]
    for i, data in enumerate(jpegs[4:]):
        _post(site, "ana", f"From the archive, {i + 1} #film", [data])
    video_id = site.video_post("ana", "The harbour, moving #motion", clip)
    carousel = _post(site, "ana", "A morning at the pier, in three #sunrise #film", jpegs[1:4])
    first = _post(site, "ana", "Harbour at dusk with @ben #sunset", [jpegs[0]])
    talk = [("ben", first, "That light! Which film?"), ("ana", first, "Portra 400, pushed one stop.")]
    talk += [("ben", carousel, "The second one is my favourite."), ("olga", video_id, "The water moves so well.")]
    _react(site, talk, [("ben", first), ("olga", first), ("olga", carousel), ("ben", video_id)])
    fill_queues(rq)
    _store_run(site)
    ingest_and_run(site, history(first, dt.datetime.now(dt.UTC).date()))  # the analytics jobs' tables

    with (
        serve(site) as base,
        person(browser, base) as ben,
        person(browser, base) as olga,
        person(browser, base) as ana,
    ):
        page = ben.page
        _log_in(ben, "ben")
        page.goto("/")
        _images_loaded(page)
        _shot(page, folder, "feed", phone=True)

        page.goto(f"/p/{first}")
        _images_loaded(page)
        _shot(page, folder, "post")

        page.goto("/@ana")
        _images_loaded(page)
        _shot(page, folder, "profile", phone=True)

        page.goto(f"/p/{video_id}")  # playing, the storyboard shown where the pointer is
        figure = page.locator("figure.video")
        expect(figure).to_have_attribute("data-level", re.compile(r"^(180|90)$"))
        page.wait_for_function("v => !v.paused && v.currentTime > 0.5", arg=figure.locator("video").element_handle())
        seek = figure.get_by_role("slider", name="Seek")
        bar = seek.bounding_box()
        assert bar is not None
        page.mouse.move(bar["x"] + bar["width"] * 0.6, bar["y"] + bar["height"] / 2)  # after the viewport settled
        expect(figure.locator(".player-thumb")).to_be_visible()
        assert_accessible(page, "video")
        page.screenshot(path=folder / "video-1440x900.png", animations="disabled")

        page.goto("/compose")
        files: list[FilePayload] = [
            {"name": f"{_PICTURES[i].title}.jpg", "mimeType": "image/jpeg", "buffer": jpegs[i]} for i in [1, 2, 3]
        ]
        page.get_by_label("Photos and videos").set_input_files(files)
        expect(page.locator("#picked li img")).to_have_count(3)
        _images_loaded(page)
        page.get_by_label("Caption").fill("Three from the pier this morning #sunrise #film")
        _shot(page, folder, "compose")

        page.goto("/settings")
        _shot(page, folder, "settings")

        _log_in(olga, "olga")
        olga.page.goto("/ops/workflows")
        olga.page.get_by_role("link", name="streaming.video").click()
        expect(olga.page.locator("#step-encode")).to_be_visible()
        steps = olga.page.locator(".scroll")  # the run's steps fit the desktop: no sideways scroll
        assert steps.evaluate("s => s.scrollWidth <= s.clientWidth") is True
        _shot(olga.page, folder, "ops-workflow")
        olga.page.goto("/ops/queues")
        _htmx_ready(olga.page)
        _shot(olga.page, folder, "ops-queues")
        olga.page.goto("/ops/pipeline")
        expect(olga.page.locator("figure[data-chart-table]").nth(1)).to_have_attribute("data-drawn", "7")
        _shot(olga.page, folder, "ops-pipeline")

        _log_in(ana, "ana")
        ana.page.goto(f"/p/{first}/stats")
        expect(ana.page.locator("figure[data-chart-table]")).to_have_attribute("data-drawn", "10")
        _shot(ana.page, folder, "post-stats", phone=True)
        for who in (ben, olga, ana):
            assert who.violations() == [] and who.dialogs == []
