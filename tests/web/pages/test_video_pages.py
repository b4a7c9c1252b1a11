"""A video post's HTML over HTTP, without a browser: the player's figure (poster-sized ``<video>``,
the HLS source, the storyboard track, the bar) and the two scripts it names, served from /static as
JavaScript; a feed without videos names neither, so it never loads them (the budget holds)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from darkroom.web.pages.security import CONTENT_SECURITY_POLICY
from tests.web.pages.site import PASSWORD, Site

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _attr(html: str, name: str) -> str:
    found = re.search(rf'\b{name}="([^"]*)"', html)
    assert found is not None, name
    return unescape(found.group(1))


def test_only_a_page_with_a_video_names_the_player_and_hls(
    client: TestClient, site: Site, clip: dict[str, Any]
) -> None:
    site.join("ana")
    site.join("ben")
    site.follow("ben", "ana")
    site.photo_post("ana", "a photo", size=(300, 200))
    assert client.post("/login", data={"login": "ben", "password": PASSWORD}).status_code == 303
    photos_only = client.get("/").text
    assert "data-player" not in photos_only and "player.js" not in photos_only and "hls" not in photos_only

    post_id = site.video_post("ana", "<b>clip</b>", clip)
    for html in (client.get("/").text, client.get(f"/p/{post_id}").text):
        figure = html[html.index('<figure class="media video"') : html.index("</figure>")]
        for name in ("data-player", "data-hls-module"):
            script = client.get(_attr(figure, name))
            assert script.status_code == 200 and script.headers["content-type"] == "text/javascript; charset=utf-8"
            assert "immutable" in script.headers["cache-control"]
        assert _attr(figure, "data-player").endswith("/player.js")
        assert _attr(figure, "data-hls-module").endswith("/vendor/hls.min.mjs")
        assert re.fullmatch(r"/v1/media/pkg/[0-9a-f]{64}/storyboard\.vtt", _attr(figure, "data-storyboard"))
        source = re.search(r'<source src="([^"]+)" type="application/vnd.apple.mpegurl">', figure)
        assert source is not None and re.fullmatch(r"/v1/media/pkg/[0-9a-f]{64}/hls/master\.m3u8", source.group(1))
        poster = _attr(figure, "poster")  # the poster first, in a box of its size
        assert client.get(poster).headers["content-type"] == "image/jpeg"
        assert (_attr(figure, "width"), _attr(figure, "height")) == ("320", "180")
        assert 'preload="none"' in figure and "muted" in figure and "controls" in figure  # until player.js runs
        assert 'aria-label="Video: &lt;b&gt;clip&lt;/b&gt;"' in figure
        assert 'max="3.0' in figure and 'aria-valuetext="0:00 of 0:03"' in figure  # the length before a byte loads
        assert "<script" not in figure and " style=" not in figure
    assert client.get("/").headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "media-src 'self' blob:" in CONTENT_SECURITY_POLICY and "worker-src" not in CONTENT_SECURITY_POLICY


def test_a_mixed_post_is_a_carousel_of_a_photo_slide_and_a_video_slide_with_its_player(
    client: TestClient, site: Site, clip: dict[str, Any]
) -> None:
    site.join("ana")
    site.join("ben")
    site.follow("ben", "ana")
    post_id = site.items_post("ana", "dusk & a clip", [(600, 400), clip])
    assert client.post("/login", data={"login": "ben", "password": PASSWORD}).status_code == 303
    for html in (client.get("/").text, client.get(f"/p/{post_id}").text):
        slide = r'<div class="slide" id="post-\w+-item-(\d)"[^>]*data-kind="(\w+)">(.*?)</figure>'
        slides = re.findall(slide, html, re.S)
        assert [(n, kind) for n, kind, _ in slides] == [("1", "photo"), ("2", "video")]
        photo, video = slides[0][2], slides[1][2]
        assert '<figure class="media">' in photo and "<picture>" in photo and "data-player" not in photo
        assert '<figure class="media video"' in video and 'type="application/vnd.apple.mpegurl"' in video
        assert _attr(video, "data-player").endswith("/player.js")
        assert (_attr(video, "width"), _attr(video, "height")) == ("320", "180")
        assert 'aria-label="2 items by @ana: scroll, swipe or use the arrow keys"' in html
        assert 'aria-label="Next item"' in html and "badge-video" not in html  # the slide's "2/2" says where
        assert html.count('<li class="dot') == 2
    og = client.get(f"/p/{post_id}").text
    assert re.search(r'<meta property="og:image" content="[^"]*/v1/media/', og)  # the first item: the photo
