"""The real app with its web pages (every router, the real ``DatabaseAuthenticator``) over a
migrated database, real Redis and a local blob store, and what the page tests need made through
the domain: people, follows, ready photo posts with real JPEG renditions, the fan-out run by hand."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image

import darkroom.queue as dq
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

__all__ = ["PASSWORD", "Site", "photo_jpeg", "serve", "site_over"]


def photo_jpeg(width: int = 600, height: int = 400) -> bytes:
    """A JPEG with something to see: a diagonal gradient."""
    ramp = Image.linear_gradient("L").resize((width, height))
    flat = Image.new("L", (width, height), 140)
    image = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM), flat))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


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

    def photo_post(self, author: str, caption: str, *, size: tuple[int, int] = (600, 400)) -> str:
        """A ready post of one photo by ``author``: uploaded through the domain, its renditions (a
        real JPEG) recorded as the processing loop would, posted, and fanned out."""
        viewer = self.viewer(author)
        upload_id = receive_photo(self.deps, viewer, photo_jpeg(*size))
        record_renditions(self.deps, upload_id, {"w600.jpg": photo_jpeg(*size)}, size=size)
        with self.engine.begin() as conn:
            post = posts.create_post(conn, viewer, caption=caption, upload_ids=[upload_id])
        assert post.state.value == "ready"
        self.fan_out(post.id)
        return post.id

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
    deps = web_deps(engine, client, tmp_path, authenticator=DatabaseAuthenticator(engine), secret=SECRET, queue=queue)
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
