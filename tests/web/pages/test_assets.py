"""Assets: content-addressed URLs, a missing required file named, and the feed page's budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.web.pages.assets import REQUIRED, Assets
from darkroom.web.pages.errors import AssetMissing

BUDGET_BYTES = 150 * 1024  # JS + CSS of the feed's first page (the budget)


def test_urls_change_with_the_content(tmp_path: Path) -> None:
    (tmp_path / "app.css").write_text("body { color: red }")
    before = Assets(tmp_path, required=["app.css"])
    url = before.url("app.css")
    assert url.startswith("/static/") and url.endswith("/app.css")
    digest = url.split("/")[2]
    found = before.find(digest, "app.css")
    assert found is not None and found.content_type == "text/css; charset=utf-8"
    (tmp_path / "app.css").write_text("body { color: blue }")
    after = Assets(tmp_path, required=["app.css"])
    assert after.url("app.css") != url and after.find(digest, "app.css") is None
    with pytest.raises(AssetMissing, match=r"'nothing\.js'"):
        after.url("nothing.js")


def test_a_required_file_missing_is_named(tmp_path: Path) -> None:
    with pytest.raises(AssetMissing, match=r"'vendor/htmx.min.js' is missing .*make setup"):
        Assets(tmp_path, required=["vendor/htmx.min.js"])


def test_the_shipped_files_fit_the_budget() -> None:
    assets = Assets()  # make setup vendored htmx
    assert assets.total_bytes(REQUIRED) <= BUDGET_BYTES


def test_the_player_and_hls_js_are_shipped_but_not_on_every_page() -> None:
    assets = Assets()
    for name in ("player.js", "vendor/hls.min.mjs"):  # ES modules: a module script needs a JS type
        digest = assets.url(name).split("/")[2]
        found = assets.find(digest, name)
        assert found is not None and found.content_type == "text/javascript; charset=utf-8"
        assert name not in REQUIRED  # imported by app.js only when a video is on the page
    hls = assets.find(assets.url("vendor/hls.min.mjs").split("/")[2], "vendor/hls.min.mjs")
    assert hls is not None and b"export{" in hls.body  # the ES module build (the dynamic import's default)
