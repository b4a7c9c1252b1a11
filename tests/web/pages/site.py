"""The real app with its web pages (every router, the real ``DatabaseAuthenticator``) over a
migrated database, real Redis and a local blob store, and what the page tests need made through
the domain: people, follows, ready photo posts with real JPEG renditions, the fan-out run by hand."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image

from darkroom.media import blurhash
from darkroom.social import account_lifecycle, accounts, graph, posts
from darkroom.social.events import Event, EventType
from darkroom.social.feed import FanoutHandler
from darkroom.social.viewer import Role, Viewer
from darkroom.storage.schema import posts as posts_table
from darkroom.web.app import create_app
from darkroom.web.deps import WebDeps
from darkroom.web.main import DatabaseAuthenticator
from darkroom.web.server import HttpServer
from tests.web.media_app import receive_photo, record_renditions
from tests.web.real_app import PASSWORD, SECRET, web_deps

__all__ = ["PASSWORD", "Site", "photo_blurhash", "photo_jpeg", "serve", "site_over"]


def _photo(width: int, height: int, tint: int) -> Image.Image:
    ramp = Image.linear_gradient("L").resize((width, height))
    flat = Image.new("L", (width, height), tint)
    return Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM), flat))


def photo_jpeg(width: int = 600, height: int = 400, *, tint: int = 140) -> bytes:
    """A JPEG with something to see: a diagonal gradient (``tint``: its blue)."""
    out = io.BytesIO()
    _photo(width, height, tint).save(out, format="JPEG", quality=85)
    return out.getvalue()


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

    def join(self, handle: str) -> Viewer:
        """An account made through the domain (the sign-up form's own tests make theirs through it)."""
        new = account_lifecycle.prepare_account(handle=handle, email=f"{handle}@example.com", password=PASSWORD)
        with self.engine.begin() as conn:
            account_lifecycle.insert_account(conn, new)
        return self.viewer(handle)

    def follow(self, follower: str, followee: str) -> None:
        who = self.viewer(follower)
        with self.engine.begin() as conn:
            graph.follow(conn, who, followee)

    def photo_post(self, author: str, caption: str, *, size: tuple[int, int] = (600, 400)) -> str:
        """A ready post of one photo by ``author``: uploaded through the domain, its renditions (a
        real JPEG) and BlurHash recorded as the processing loop would, posted, and fanned out."""
        return self.photos_post(author, caption, sizes=[size])

    def photos_post(self, author: str, caption: str, *, sizes: Sequence[tuple[int, int]], fan_out: bool = True) -> str:
        """A ready post of ``len(sizes)`` photos (each its own blue), as :meth:`photo_post` makes
        one; ``fan_out=False`` leaves it out of the feeds until :meth:`fan_out`."""
        viewer = self.viewer(author)
        upload_ids = []
        for i, size in enumerate(sizes):
            tint = (140 + 70 * i) % 256
            upload_id = receive_photo(self.deps, viewer, photo_jpeg(*size, tint=tint))
            made = {"w600.jpg": photo_jpeg(*size, tint=tint)}
            record_renditions(self.deps, upload_id, made, size=size, blurhash=photo_blurhash(*size, tint=tint))
            upload_ids.append(upload_id)
        with self.engine.begin() as conn:
            post = posts.create_post(conn, viewer, caption=caption, upload_ids=upload_ids)
        assert post.state.value == "ready"
        if fan_out:
            self.fan_out(post.id)
        return post.id

    def fan_out(self, post_id: str) -> None:
        """Run the feed's consumer on ``post_id`` becoming ready, as the social runner would."""
        with self.engine.begin() as conn:
            author_id = conn.execute(sa.select(posts_table.c.author_id).where(posts_table.c.id == post_id)).scalar_one()
        FanoutHandler(self.engine, self.deps.redis).handle([Event(EventType.POST_READY, author_id, post_id)])


@contextmanager
def site_over(engine: sa.Engine, client: redis.Redis, tmp_path: Path) -> Iterator[Site]:
    deps = web_deps(engine, client, tmp_path, authenticator=DatabaseAuthenticator(engine), secret=SECRET)
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
