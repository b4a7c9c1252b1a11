"""The settings pages in a real browser (Debian's Chromium through Playwright, the app served by
uvicorn): edit the profile and upload an avatar through the forms, create a token (its secret shown
once, copied to the clipboard by the Copy button) and revoke it, unblock someone, download the
export (Playwright's download event; the zip opened and checked), then delete the account. No CSP
violation, no dialog; screenshots of each page at 390x844 and 1440x900."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from playwright.sync_api import Browser, expect

from darkroom.social import accounts, graph
from darkroom.web.app import create_app
from darkroom.web.main import DatabaseAuthenticator
from tests.web.media_app import RecordedStarts, record_renditions
from tests.web.pages.a11y import assert_accessible
from tests.web.pages.site import PASSWORD, Site, photo_jpeg, serve
from tests.web.pages.test_browser import XSS, person, shoot, sign_up
from tests.web.real_app import SECRET, web_deps

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def uploading(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Site]:
    """The site taking uploads (the avatar): workflow starts are recorded, not run."""
    deps = web_deps(
        db_engine, redis_client, tmp_path, authenticator=DatabaseAuthenticator(db_engine), secret=SECRET,
        starts=lambda: RecordedStarts([]),
    )  # fmt: skip
    yield Site(create_app(deps), deps)


def test_profile_token_export_and_deletion_in_the_browser(
    uploading: Site, browser: Browser, artefacts: Path, tmp_path: Path
) -> None:
    site = uploading
    with serve(site) as base, person(browser, base) as ana:
        page = ana.page
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        sign_up(ana, "ana")
        post_id = site.photo_post("ana", "first light")

        page.get_by_role("link", name="Settings").click()
        expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
        page.get_by_label("Name").fill(XSS)
        page.get_by_label("Bio").fill("film and light\nby the sea")
        page.get_by_label("Private account").check()
        page.get_by_role("button", name="Save profile").click()
        expect(page.get_by_text("Your profile is saved.")).to_be_visible()
        expect(page.get_by_label("Name")).to_have_value(XSS)
        expect(page.get_by_label("Private account")).to_be_checked()

        page.get_by_label("New photo").set_input_files(
            files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg(400, 400)}]
        )
        page.get_by_role("button", name="Upload photo").click()
        expect(page.get_by_text("Your new photo is being processed")).to_be_visible()
        with site.engine.begin() as conn:
            upload_id = accounts.get_account(conn, "ana").avatar_upload_id
        assert upload_id is not None
        record_renditions(site.deps, upload_id, {"w320.jpg": photo_jpeg(320, 320)}, size=(320, 320))
        page.goto("/settings")
        avatar = page.get_by_role("img", name="Your photo")
        page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=avatar.element_handle())
        assert_accessible(ana.page, "settings-profile")
        shoot(ana, artefacts, "settings-profile")
        page.get_by_label("Name").fill("N" * 65)
        page.get_by_role("button", name="Save profile").click()
        expect(page.get_by_role("alert")).to_contain_text("is 65 characters long: at most 64")
        assert_accessible(ana.page, "settings-refused")
        shoot(ana, artefacts, "settings-refused")

        page.get_by_role("link", name="API tokens").click()
        expect(page.get_by_text("No tokens yet.")).to_be_visible()
        page.get_by_label("Name").fill("backup script")
        page.get_by_role("button", name="Create token").click()
        secret = page.get_by_label("The new token")
        expect(secret).to_have_value(re.compile(r".{20,}"))
        copy = page.locator("#copy-secret")  # its name changes to "Copied"
        copy.click()
        expect(copy).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == secret.input_value()
        assert_accessible(ana.page, "settings-token-new")
        shoot(ana, artefacts, "settings-token-new")
        page.get_by_role("link", name="API tokens").click()  # again: listed, its secret never shown again
        expect(page.get_by_label("The new token")).to_have_count(0)
        expect(page.get_by_text("backup script", exact=True)).to_be_visible()
        assert_accessible(ana.page, "settings-tokens")
        shoot(ana, artefacts, "settings-tokens")
        page.get_by_role("button", name="Revoke backup script").click()
        expect(page.get_by_text("No tokens yet.")).to_be_visible()

        site.join("ben")
        me = site.viewer("ana")  # before the write transaction: SQLite's begins immediately
        with site.engine.begin() as conn:
            graph.block(conn, me, "ben")
        page.get_by_role("link", name="Blocked").click()
        assert_accessible(ana.page, "settings-blocked")
        shoot(ana, artefacts, "settings-blocked")
        page.get_by_role("button", name="Unblock @ben").click()
        expect(page.get_by_text("You block nobody.")).to_be_visible()

        page.get_by_role("link", name="Your data").click()
        assert_accessible(ana.page, "settings-export")
        shoot(ana, artefacts, "settings-export")
        with page.expect_download() as downloading:
            page.get_by_role("button", name="Download my data").click()
        download = downloading.value
        assert download.suggested_filename.startswith("darkroom-ana-") and download.suggested_filename.endswith(".zip")
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        with zipfile.ZipFile(saved) as zf:
            assert json.loads(zf.read("profile.json"))["display_name"] == XSS
            (post,) = json.loads(zf.read("posts.json"))
            assert post["id"] == post_id and zf.read(post["media"][0]["file"]) == photo_jpeg()
        expect(page.get_by_role("heading", name="Download your data")).to_be_visible()  # still on the page

        page.get_by_role("link", name="Delete account").click()
        page.get_by_label("Your password, to confirm").fill("not my password")
        page.get_by_role("button", name="Delete my account").click()
        expect(page.get_by_role("alert")).to_have_text("that is not the password of @ana")
        assert_accessible(ana.page, "settings-delete")
        shoot(ana, artefacts, "settings-delete")
        page.get_by_label("Your password, to confirm").fill(PASSWORD)
        page.get_by_role("button", name="Delete my account").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        assert not [c for c in page.context.cookies() if c["name"] == "darkroom_session"]
        assert ana.violations() == [] and ana.dialogs == []
