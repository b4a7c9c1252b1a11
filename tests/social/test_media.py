"""A video's media from its workflow's outputs to URLs: ``renditions.video_info`` names each
package's tree and path, ``media.from_upload`` turns them into ``pkg/{digest}/{path}`` references,
``media_access`` records the trees so a package's files are public exactly when its post is."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from darkroom.runtime.files import tree_digest, tree_key
from darkroom.social import media, media_access
from darkroom.social.renditions import video_info
from darkroom.storage.blobs import content_key
from darkroom.storage.errors import InvalidBlobKey
from tests.social.rows import make_account, make_post, make_upload


def _key(name: str, suffix: str) -> str:
    return content_key(hashlib.sha256(name.encode()).hexdigest(), suffix=suffix)


PACKAGE, BOARD = tree_key(hashlib.sha256(b"package").hexdigest()), tree_key(hashlib.sha256(b"board").hexdigest())
MASTER, MPD, POSTER, VTT = _key("master", ".m3u8"), _key("mpd", ".mpd"), _key("poster", ".jpg"), _key("vtt", ".vtt")
OUTPUTS = {
    "package": {"$tree": PACKAGE},
    "master": {"$blob": MASTER},
    "mpd": {"$blob": MPD},
    "packaged": [{"name": "360p", "width": 640, "height": 360}, {"name": "720p", "width": 1280, "height": 720}],
    "poster": {"file": {"$blob": POSTER}, "width": 1280, "height": 720},
    "storyboard": {"files": {"$tree": BOARD}, "vtt": {"$blob": VTT}, "tile_width": 160, "tile_height": 90, "tiles": 12},
}


def test_video_info_names_each_package_s_tree_and_path() -> None:
    info = video_info(OUTPUTS, {"width": 1280, "height": 720, "duration_s": 12.0})
    rows = {r["role"]: r for r in info["renditions"]}
    assert [r["role"] for r in info["renditions"]] == ["poster", "hls", "dash", "storyboard"]
    hls = {"key": MASTER, "content_type": "application/vnd.apple.mpegurl", "width": 1280, "height": 720,
           "role": "hls", "tree": PACKAGE, "path": "hls/master.m3u8"}  # fmt: skip
    assert rows["hls"] == hls
    assert (rows["dash"]["tree"], rows["dash"]["path"]) == (PACKAGE, "dash/manifest.mpd")
    board = {"key": VTT, "content_type": "text/vtt", "width": 160, "height": 90, "role": "storyboard",
             "tree": BOARD, "path": "storyboard.vtt"}  # fmt: skip
    assert rows["storyboard"] == board
    assert "tree" not in rows["poster"]
    assert media_access.rendition_keys(info) == [POSTER, MASTER, PACKAGE, MPD, VTT, BOARD]


def test_a_package_s_files_are_referenced_by_the_tree_s_digest_and_their_path() -> None:
    info = video_info(OUTPUTS, {})
    message = media.from_upload("01UP", "video", "ready", info)
    refs = {r.role: r.url for r in message.renditions}
    digest = tree_digest(PACKAGE)
    assert refs["hls"] == f"pkg/{digest}/hls/master.m3u8" and refs["dash"] == f"pkg/{digest}/dash/manifest.mpd"
    assert refs["storyboard"] == f"pkg/{tree_digest(BOARD)}/storyboard.vtt"
    assert refs["poster"] == POSTER
    parsed = media.parse_package_ref(refs["hls"])
    assert parsed is not None and (parsed.tree_key, parsed.path, parsed.prefix) == (PACKAGE, "hls/master.m3u8",
                                                                                     f"pkg/{digest}/")  # fmt: skip
    media.sign([message], media.PLAIN_URLS, private=False)
    assert message.renditions[1].url == f"/v1/media/pkg/{digest}/hls/master.m3u8"
    # an odd tree or path reads as the file alone, and odd references are no package's
    odd = {"renditions": [{"key": "k.m3u8", "role": "hls", "tree": "not/a/tree.json", "path": "hls/master.m3u8"},
                          {"key": "k.mpd", "role": "dash", "tree": PACKAGE, "path": "../escape.mpd"}]}  # fmt: skip
    assert [r.url for r in media.from_upload("01UP", "video", "ready", odd).renditions] == ["k.m3u8", "k.mpd"]
    for ref in ("cas/sha256/ab/x.jpg", f"pkg/{digest}", f"pkg/{digest}/", f"pkg/{digest}/a/../b", "pkg/XYZ/a.m4s",
                f"pkg/{digest.upper()}/a.m4s", f"pkg/{digest}/.hidden"):  # fmt: skip
        assert media.parse_package_ref(ref) is None, ref
    with pytest.raises(InvalidBlobKey, match="not the key of a tree manifest"):
        media.package_ref(MASTER, "hls/master.m3u8")


@pytest.mark.parametrize("private", [False, True])
def test_a_package_is_public_exactly_when_its_post_is(db_engine: sa.Engine, private: bool) -> None:
    info = video_info(OUTPUTS, {})
    with db_engine.begin() as conn:
        author = make_account(conn, "author", private=private)
        upload = make_upload(conn, author, kind="video", info=info)
        assert media_access.record_keys(conn, upload, info) == 6
        assert not media_access.is_public(conn, PACKAGE)  # in no post yet
        make_post(conn, author, upload_ids=[upload])
        assert media_access.is_public(conn, PACKAGE) is (not private)
        assert media_access.is_public(conn, BOARD) is (not private)
        assert not media_access.is_public(conn, tree_key("0" * 64))  # a package of nobody's
        media_access.forget_keys(conn, [upload])
        assert not media_access.is_public(conn, PACKAGE)
