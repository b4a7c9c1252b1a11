"""A posted video plays through /v1/media: the post's HLS master playlist, DASH manifest and
storyboard URLs are followed as a player follows them (every relative URI resolved against the URL
it came from, fetched with the same client): 200 or 206 with the right types, for a public post
unsigned and immutable, for a private account's post signed in the path for a follower; the
unsigned, guessed, tampered, expired or another package's URLs fetch nothing.

The video is the 1 s corpus clip, packaged, storyboarded and postered once per module by the media
functions the workflow's steps call, stored as the runtime stores a run's outputs, and settled by
the processing loop (nothing is encoded)."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
import redis
import sqlalchemy as sa

from darkroom.media.errors import MediaError
from darkroom.media.package import package, play_through
from darkroom.media.recipe import Recipe
from darkroom.media.storyboard import poster, storyboard
from darkroom.runtime.files import read_tree, store_outputs
from darkroom.social import graph
from darkroom.social.posts import advance_processing, create_post
from darkroom.social.uploads import UploadLimits, receive_upload
from darkroom.storage.schema import accounts, workflows
from darkroom.web.media_urls import SignedMediaUrls, media_path
from darkroom.web.server import HttpServer
from tests.social.media_helpers import CLIP_NAMED_JPG, video_outputs
from tests.web.media_app import SECRET, MediaApp, RecordedStarts, media_app

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
HLS, DASH = "application/vnd.apple.mpegurl", "application/dash+xml"
SEGMENT, MP4, VTT, JPEG = "video/iso.segment", "video/mp4", "text/vtt; charset=utf-8", "image/jpeg"
_TYPES = {".m3u8": HLS, ".mpd": DASH, ".m4s": SEGMENT, ".mp4": MP4, ".vtt": VTT, ".jpg": JPEG}
_URI_ATTR = re.compile(r'URI="([^"]+)"')
_MPD = "{urn:mpeg:dash:schema:mpd:2011}"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the video workflow's last steps return for the clip (package, poster, storyboard)."""
    root = tmp_path_factory.mktemp("video")
    rung = Recipe("h264", 160, 90, crf=40, preset="ultrafast", gop_s=1, segment_s=1, name="90p")
    done = package([(CLIP_NAMED_JPG, rung)], CLIP_NAMED_JPG, root / "package", segment_s=1, timeout_s=60)
    cover = poster(CLIP_NAMED_JPG, root / "poster.jpg", timeout_s=60)
    board = storyboard(CLIP_NAMED_JPG, root / "storyboard", timeout_s=60)
    return video_outputs(done, cover, board)


@pytest.fixture
def app(db_engine: sa.Engine, redis_client: redis.Redis, tmp_path: Path) -> Iterator[MediaApp]:
    yield from media_app(db_engine, redis_client, tmp_path)


def _post_video(app: MediaApp, made: dict[str, Any], who: str) -> tuple[str, dict[str, Any]]:
    """A ready post of ``who`` with the clip, its run recorded as finished with ``made`` stored as
    the runtime stores outputs; the post's id and the stored outputs."""
    with app.engine.begin() as conn:
        row = receive_upload(
            conn, app.blobs, app.people[who], io.BytesIO(CLIP_NAMED_JPG.read_bytes()), filename="clip.mp4",
            limits=UploadLimits(), spool_dir=app.deps.spool_dir, start=RecordedStarts([]),
        )  # fmt: skip
    assert row.kind is not None and row.kind.value == "video"
    outputs = store_outputs(made, app.blobs, app.deps.settings.home)
    now = time.time()
    with app.engine.begin() as conn:
        conn.execute(
            sa.insert(workflows),
            {"id": row.workflow_id, "name": "streaming.video", "state": "succeeded", "inputs": {}, "outputs": outputs,
             "priority": "preview", "deadline": now + 300, "progress": 1.0, "created_at": now, "updated_at": now},
        )  # fmt: skip
        advance_processing(conn)
        post = create_post(conn, app.people[who], caption="a clip", upload_ids=[row.id])
    assert post.state.value == "ready"
    return post.id, outputs


def _renditions(app: MediaApp, post_id: str, headers: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    response = app.client.get(f"/v1/posts/{post_id}", headers=headers or {})
    assert response.status_code == 200, response.text
    (media,) = response.json()["media"]
    assert media["kind"] == "video" and media["state"] == "ready"
    return {r["role"]: r for r in media["renditions"]}


class Player:
    """Fetches like a player: each URL once, relative URIs against the URL they were read from."""

    def __init__(self, client: httpx.Client | Any) -> None:
        self.client = client
        self.fetched: dict[str, httpx.Response] = {}

    def get(self, url: str) -> httpx.Response:
        response: httpx.Response = self.client.get(url)
        path = urlsplit(url).path
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"] == _TYPES[path[path.rfind(".") :]], url
        assert response.headers["x-content-type-options"] == "nosniff" and "content-encoding" not in response.headers
        self.fetched[url] = response
        return response

    def hls(self, master_url: str) -> None:
        """The master playlist, every variant and rendition playlist, their init and media segments."""
        for playlist_url in self._uris(master_url):
            for segment_url in self._uris(playlist_url):
                self.get(segment_url)

    def _uris(self, playlist_url: str) -> list[str]:
        text = self.get(playlist_url).text
        assert text.startswith("#EXTM3U")
        uris = [u for line in text.splitlines() if line.startswith("#") for u in _URI_ATTR.findall(line)]
        uris += [line for line in text.splitlines() if line and not line.startswith("#")]
        assert uris, playlist_url
        return [urljoin(playlist_url, uri) for uri in uris]

    def dash(self, mpd_url: str) -> None:
        """The manifest, then each representation's init segment and every segment of its timeline."""
        root = ElementTree.fromstring(self.get(mpd_url).content)
        representations = list(root.iter(f"{_MPD}Representation"))
        assert representations
        for rep in representations:
            template = rep.find(f"{_MPD}SegmentTemplate")
            assert template is not None
            rid, number = rep.get("id", ""), int(template.get("startNumber", "1"))
            self.get(urljoin(mpd_url, template.get("initialization", "").replace("$RepresentationID$", rid)))
            count = sum(1 + int(s.get("r", "0")) for s in template.iter(f"{_MPD}S"))
            media = template.get("media", "").replace("$RepresentationID$", rid)
            width = re.search(r"\$Number%0(\d)d\$", media)
            assert width is not None, media  # ffmpeg's template: $Number%05d$
            for n in range(number, number + count):
                self.get(urljoin(mpd_url, media.replace(width[0], f"{n:0{width[1]}d}")))

    def storyboard(self, vtt_url: str) -> None:
        """The WebVTT track, then every sprite sheet its cues name (``sheet.jpg#xywh=…``)."""
        text = self.get(vtt_url).text
        sheets = {line.split("#", 1)[0] for line in text.splitlines() if "#xywh=" in line}
        assert text.startswith("WEBVTT") and sheets
        for sheet in sheets:
            self.get(urljoin(vtt_url, sheet))

    def everything(self, renditions: dict[str, dict[str, Any]]) -> None:
        self.hls(renditions["hls"]["url"])
        self.dash(renditions["dash"]["url"])
        self.storyboard(renditions["storyboard"]["url"])
        self.get(renditions["poster"]["url"])


def _stored_files(app: MediaApp, outputs: dict[str, Any]) -> int:
    """How many files the package and the storyboard folders hold."""
    trees = (outputs["package"]["$tree"], outputs["storyboard"]["files"]["$tree"])
    return sum(len(read_tree(app.blobs, tree)) for tree in trees)


def _as_follower(app: MediaApp, post_id: str) -> dict[str, dict[str, Any]]:
    """The renditions of private dee's post as ben reads it, once he follows her."""
    with app.engine.begin() as conn:
        graph.follow(conn, app.people["ben"], "dee")
        graph.accept_request(conn, app.people["dee"], "ben")
    return _renditions(app, post_id, app.auth("ben"))


def _unsigned(url: str) -> str:
    """``url`` without its signature (in the path for a package's files, in the query for the rest)."""
    return re.sub(r"^/v1/media/signed/\d+/[^/]+/", "/v1/media/", url.partition("?")[0])


def test_a_public_post_s_video_plays_with_plain_immutable_urls(app: MediaApp, made: dict[str, Any]) -> None:
    post_id, outputs = _post_video(app, made, "ana")
    renditions = _renditions(app, post_id)  # anonymous
    assert sorted(renditions) == ["dash", "hls", "poster", "storyboard"]
    assert renditions["hls"]["content_type"] == HLS and renditions["dash"]["content_type"] == DASH
    assert renditions["storyboard"]["content_type"] == "text/vtt"
    assert (renditions["hls"]["width"], renditions["hls"]["height"]) == (160, 90)
    assert re.fullmatch(r"/v1/media/pkg/[0-9a-f]{64}/hls/master\.m3u8", renditions["hls"]["url"])
    assert renditions["dash"]["url"].rsplit("/", 2)[0] == renditions["hls"]["url"].rsplit("/", 2)[0]  # one package
    assert renditions["storyboard"]["url"].endswith("/storyboard.vtt")
    player = Player(app.client)
    player.everything(renditions)
    assert len(player.fetched) == _stored_files(app, outputs) + 1  # every file of both folders, and the poster
    for response in player.fetched.values():
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["accept-ranges"] == "bytes" and response.headers["etag"]
    # a segment by range, and as a HEAD
    segment = next(url for url in player.fetched if url.endswith("seg_00000.m4s") and "/90p/" in url)
    whole = player.fetched[segment].content
    part = app.client.get(segment, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == whole[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(whole)}" and part.headers["content-type"] == SEGMENT
    head = app.client.head(segment, headers={"Range": "bytes=-4"})
    assert head.status_code == 206 and head.headers["content-length"] == "4" and head.content == b""
    again = app.client.get(segment, headers={"If-None-Match": player.fetched[segment].headers["etag"]})
    assert again.status_code == 304


@SQLITE
def test_no_file_of_a_package_is_reached_but_through_its_folder(app: MediaApp, made: dict[str, Any]) -> None:
    post_id, outputs = _post_video(app, made, "ana")
    master = _renditions(app, post_id)["hls"]["url"]
    folder = master.removesuffix("hls/master.m3u8")
    segment_key = next(e.key for e in read_tree(app.blobs, outputs["package"]["$tree"]) if e.path.endswith(".m4s"))
    missing = [
        media_path(segment_key),  # a segment by its own key: no rendition
        media_path(outputs["master"]["$blob"].replace(".m3u8", ".m4s")),
        folder + "hls/90p/seg_00099.m4s",  # not in the package
        folder + "hls",  # a folder, not a file
        folder + "hls/90p/%2E%2E/master.m3u8",
        "/v1/media/pkg/" + "0" * 64 + "/hls/master.m3u8",  # no such package
        "/v1/media/pkg/NOT-A-DIGEST/hls/master.m3u8",
    ]
    for url in missing:
        response = app.client.get(url)
        assert response.status_code == 404 and response.json()["detail"].startswith("no media"), url
    assert app.client.get(folder + "hls/90p/init.mp4").status_code == 200
    with app.engine.begin() as conn:  # going private withdraws every file of the package at once
        conn.execute(sa.update(accounts).where(accounts.c.id == app.people["ana"].account_id).values(private=True))
    assert app.client.get(folder + "hls/90p/init.mp4").status_code == 404
    assert app.client.get(master).status_code == 404


@SQLITE
def test_a_private_account_s_video_plays_signed_for_a_follower_only(app: MediaApp, made: dict[str, Any]) -> None:
    post_id, outputs = _post_video(app, made, "dee")  # dee is private
    renditions = _as_follower(app, post_id)
    hls = renditions["hls"]["url"]
    assert re.fullmatch(r"/v1/media/signed/\d+/[A-Za-z0-9_-]{22}/pkg/[0-9a-f]{64}/hls/master\.m3u8", hls)
    player = Player(app.client)
    player.everything(renditions)
    assert len(player.fetched) == _stored_files(app, outputs) + 1
    signed_package = [url for url in player.fetched if "/pkg/" in url]
    assert all(url.startswith("/v1/media/signed/") for url in signed_package)  # relative URIs kept the signature
    for response in player.fetched.values():
        max_age = int(response.headers["cache-control"].removeprefix("private, max-age="))
        assert 3600 <= max_age <= 7200
    segment = next(url for url in signed_package if url.endswith("seg_00000.m4s"))
    assert app.client.get(segment, headers={"Range": "bytes=0-7"}).status_code == 206

    # a non-follower: no post, and nothing of the package without the follower's URLs
    assert app.client.get(f"/v1/posts/{post_id}", headers=app.auth("ana")).status_code == 404
    unsigned = [_unsigned(url) for url in player.fetched]
    guessed = _unsigned(hls).replace("hls/master.m3u8", "hls/90p/seg_00001.m4s")
    segment_key = next(e.key for e in read_tree(app.blobs, outputs["package"]["$tree"]) if e.path.endswith(".m4s"))
    for url in [*unsigned, guessed, media_path(segment_key)]:
        response = app.client.get(url, headers=app.auth("ana"))
        assert response.status_code == 404 and response.json()["detail"].startswith("no media"), url

    exp, sig, rest = re.fullmatch(r"/v1/media/signed/(\d+)/([^/]+)/(.+)", segment).groups()  # type: ignore[union-attr]
    past = int(time.time()) - 10
    stale = SignedMediaUrls(SECRET, ttl_s=5, clock=lambda: past - 11).url(rest, private=True)
    board_sig = re.fullmatch(r"/v1/media/signed/\d+/([^/]+)/.+", renditions["storyboard"]["url"])[1]  # type: ignore[index]
    refused = {
        f"/v1/media/signed/{exp}/{sig[:-2]}AA/{rest}": "does not match",  # tampered
        f"/v1/media/signed/{int(exp) + 3600}/{sig}/{rest}": "does not match",  # a later expiry
        f"/v1/media/signed/{exp}/{board_sig}/{rest}": "does not match",  # the storyboard's signature
        SignedMediaUrls(b"another secret!!").url(rest, private=True): "does not match",
        stale: "expired",
        f"/v1/media/signed/soon/{sig}/{rest}": "epoch seconds",
    }
    for url, why in refused.items():
        response = app.client.get(url, headers=app.auth("ana"))
        assert response.status_code == 403 and why in response.json()["detail"], (url, response.text)
    # a good signature covers the package's files, and nothing the package does not hold
    beside = re.sub(r"hls/.*", "hls/90p/seg_00099.m4s", segment)
    assert app.client.get(beside).status_code == 404


@SQLITE
def test_ffmpeg_plays_the_private_post_s_signed_playlist_urls_over_http(app: MediaApp, made: dict[str, Any]) -> None:
    post_id, _ = _post_video(app, made, "dee")
    renditions = _as_follower(app, post_id)
    server = HttpServer(app.client.app, "127.0.0.1:0", log_level="warning")
    port = server.bind()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        # the URLs as the post gives them, every stream decoded to the end, no segment skipped
        play_through(base + renditions["hls"]["url"], timeout_s=60)
        play_through(base + renditions["dash"]["url"], timeout_s=60)
        with pytest.raises(MediaError):
            play_through(base + _unsigned(renditions["hls"]["url"]), timeout_s=60)
    finally:
        server.stop()
        thread.join(30)
