"""The real app with its web pages (every router, the real ``DatabaseAuthenticator``) over a
migrated database, real Redis and a local blob store, and what the page tests need made through
the domain: people, follows, ready photo posts with real JPEG renditions, ready video posts with a
real HLS package, poster and storyboard, the fan-out run by hand."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image

import darkroom.queue as dq
from darkroom.media import blurhash
from darkroom.media.encode import encode_audio, encode_ladder
from darkroom.media.package import package
from darkroom.media.recipe import AudioRecipe, Recipe
from darkroom.media.storyboard import poster, storyboard
from darkroom.media.synthetic import make_clip
from darkroom.runtime.files import store_outputs
from darkroom.social import account_edits, account_lifecycle, accounts, graph, posts
from darkroom.social.events import Event, EventType
from darkroom.social.feed import FanoutHandler
from darkroom.social.uploads import UploadLimits, receive_upload
from darkroom.social.viewer import Role, Viewer
from darkroom.storage.schema import posts as posts_table
from darkroom.storage.schema import workflows
from darkroom.web.app import create_app
from darkroom.web.deps import WebDeps
from darkroom.web.main import DatabaseAuthenticator
from darkroom.web.server import HttpServer
from tests.social.media_helpers import video_outputs
from tests.web.media_app import RecordedStarts, receive_photo, record_renditions
from tests.web.real_app import PASSWORD, SECRET, web_deps

__all__ = ["PASSWORD", "Site", "make_video", "photo_blurhash", "photo_jpeg", "serve", "site_over"]

# A tiny ladder: 1 s GOPs in 1 s segments, as the packaging tests encode it
_RUNGS = tuple(
    Recipe("h264", w, h, crf=30, maxrate_kbps=kbps, preset="veryfast", gop_s=1, segment_s=1, name=f"{h}p")
    for w, h, kbps in ((320, 180, 600), (160, 90, 300))
)


def _photo(width: int, height: int, tint: int) -> Image.Image:
    ramp = Image.linear_gradient("L").resize((width, height))
    flat = Image.new("L", (width, height), tint)
    return Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM), flat))


def photo_jpeg(width: int = 600, height: int = 400, *, tint: int = 140) -> bytes:
    """A JPEG with something to see: a diagonal gradient (``tint``: its blue)."""
    out = io.BytesIO()
    _photo(width, height, tint).save(out, format="JPEG", quality=85)
    return out.getvalue()


def make_video(root: Path, *, duration_s: float = 3.0) -> dict[str, Any]:
    """What the streaming workflow's last steps return for a short synthetic clip (320x180), made by
    the media functions those steps call: a two-rung ladder (180p, 90p) and the audio encoded and
    packaged as HLS and DASH, the poster, and a storyboard of one tile a second. The clip is the
    upload's source (``source``)."""
    source = make_clip(root / "clip.mp4", duration_s=duration_s, width=320, height=180, fps=25, timeout_s=60)
    rungs = [(root / f"{recipe.name}.mp4", recipe) for recipe in _RUNGS]
    encode_ladder(source, rungs, timeout_s=60)
    audio = encode_audio(source, root / "audio.m4a", AudioRecipe("aac", 64, 2), timeout_s=60)
    done = package(rungs, audio, root / "package", segment_s=1, timeout_s=60)
    cover = poster(source, root / "poster.jpg", timeout_s=60)
    board = storyboard(source, root / "storyboard", interval_s=1, timeout_s=60)
    return {"source": source, **video_outputs(done, cover, board)}


def photo_blurhash(width: int = 600, height: int = 400, *, tint: int = 140) -> str:
    """The BlurHash of :func:`photo_jpeg`'s picture, by the encoder the images service runs."""
    small = _photo(width, height, tint).resize((64, max(1, 64 * height // width)))
    return blurhash.encode(np.asarray(small, dtype=np.uint8), 4, 3)


@dataclass
class Site:
    """The app, what it runs on, and domain shortcuts for what the pages do not build yet."""

    app: FastAPI
    deps: WebDeps

    @property
    def engine(self) -> sa.Engine:
        return self.deps.engine

    def viewer(self, handle: str) -> Viewer:
        with self.engine.begin() as conn:
            row = accounts.get_account(conn, handle)
        return Viewer(row.id, row.handle, role=Role(row.role))

    def join(self, handle: str, *, role: Role = Role.USER) -> Viewer:
        """An account made through the domain (the sign-up form's own tests make theirs through it);
        an admin with ``role=Role.ADMIN``, which no form grants."""
        new = account_lifecycle.prepare_account(
            handle=handle, email=f"{handle}@example.com", password=PASSWORD, role=role
        )
        with self.engine.begin() as conn:
            account_lifecycle.insert_account(conn, new)
        return self.viewer(handle)

    def follow(self, follower: str, followee: str) -> None:
        who = self.viewer(follower)
        with self.engine.begin() as conn:
            graph.follow(conn, who, followee)

    def make_private(self, handle: str) -> None:
        who = self.viewer(handle)  # before the write transaction: SQLite's begins immediately
        with self.engine.begin() as conn:
            account_edits.update_account(conn, who, account_edits.AccountChanges(private=True), "private")

    def accept(self, handle: str, follower: str) -> None:
        who = self.viewer(handle)
        with self.engine.begin() as conn:
            graph.accept_request(conn, who, follower)

    def photo_post(self, author: str, caption: str, *, size: tuple[int, int] = (600, 400)) -> str:
        """A ready post of one photo by ``author``: uploaded through the domain, its renditions (a
        real JPEG) and BlurHash recorded as the processing loop would, posted, and fanned out."""
        return self.photos_post(author, caption, sizes=[size])

    def photos_post(self, author: str, caption: str, *, sizes: Sequence[tuple[int, int]], fan_out: bool = True) -> str:
        """A ready post of ``len(sizes)`` photos (each its own blue), as :meth:`photo_post` makes
        one; ``fan_out=False`` leaves it out of the feeds until :meth:`fan_out`."""
        return self.items_post(author, caption, list(sizes), fan_out=fan_out)

    def video_post(self, author: str, caption: str, made: dict[str, Any]) -> str:
        """A ready post of one video by ``author``: the clip uploaded through the domain, its
        ``streaming.video`` run recorded as finished with ``made`` (:func:`make_video`) stored as the
        runtime stores a run's outputs, settled by the processing loop, posted and fanned out."""
        return self.items_post(author, caption, [made])

    def items_post(
        self, author: str, caption: str, items: Sequence[tuple[int, int] | dict[str, Any]], *, fan_out: bool = True
    ) -> str:
        """A ready post of photos and videos in the order of ``items``: a ``(width, height)`` is a
        photo (as :meth:`photos_post` makes them), a dict a video (as :meth:`video_post`)."""
        viewer = self.viewer(author)
        upload_ids = [
            self._video_upload(viewer, item) if isinstance(item, dict) else self._photo_upload(viewer, item, i)
            for i, item in enumerate(items)
        ]
        with self.engine.begin() as conn:
            post = posts.create_post(conn, viewer, caption=caption, upload_ids=upload_ids)
        assert post.state.value == "ready"
        if fan_out:
            self.fan_out(post.id)
        return post.id

    def _photo_upload(self, viewer: Viewer, size: tuple[int, int], index: int) -> str:
        tint = (140 + 70 * index) % 256
        upload_id = receive_photo(self.deps, viewer, photo_jpeg(*size, tint=tint))
        made = {"w600.jpg": photo_jpeg(*size, tint=tint)}
        record_renditions(self.deps, upload_id, made, size=size, blurhash=photo_blurhash(*size, tint=tint))
        return upload_id

    def _video_upload(self, viewer: Viewer, made: dict[str, Any]) -> str:
        source: Path = made["source"]
        with self.engine.begin() as conn:
            row = receive_upload(
                conn, self.deps.blobs, viewer, io.BytesIO(source.read_bytes()), filename="clip.mp4",
                limits=UploadLimits(), spool_dir=self.deps.spool_dir, start=RecordedStarts([]),
            )  # fmt: skip
        outputs = store_outputs({k: v for k, v in made.items() if k != "source"}, self.deps.blobs, source.parent)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(workflows),
                {"id": row.workflow_id, "name": "streaming.video", "state": "succeeded", "inputs": {},
                 "outputs": outputs, "priority": "preview", "deadline": now + 300, "progress": 1.0,
                 "created_at": now, "updated_at": now},
            )  # fmt: skip
            posts.advance_processing(conn)
        return str(row.id)

    def fan_out(self, post_id: str) -> None:
        """Run the feed's consumer on ``post_id`` becoming ready, as the social runner would."""
        with self.engine.begin() as conn:
            author_id = conn.execute(sa.select(posts_table.c.author_id).where(posts_table.c.id == post_id)).scalar_one()
        FanoutHandler(self.engine, self.deps.redis).handle([Event(EventType.POST_READY, author_id, post_id)])


@contextmanager
def site_over(
    engine: sa.Engine, client: redis.Redis, tmp_path: Path, *, queue: dq.RedisQueue | None = None
) -> Iterator[Site]:
    """The site; with ``queue``, the platform's queue its operator pages read."""
    authenticator = DatabaseAuthenticator(engine, client)  # through the credential cache, as served
    deps = web_deps(engine, client, tmp_path, authenticator=authenticator, secret=SECRET, queue=queue)
    yield Site(create_app(deps), deps)


@contextmanager
def serve(site: Site) -> Iterator[str]:
    """The site served by uvicorn on a free port of 127.0.0.1; its base URL."""
    server = HttpServer(site.app, "127.0.0.1:0", log_level="warning")
    port = server.bind()  # listening from here on: a request waits in the backlog until uvicorn accepts it
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        thread.join(30)
