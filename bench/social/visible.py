"""From upload finished to visible in a follower's feed, on a real platform: ``LocalPlatform``
with ``PlatformConfig(social=True)`` (the private redis-server, an engine, two workers, the
social runner and ``darkroom http`` on a free port, SQLite metadata, as ``darkroom up`` runs
them), driven only through the HTTP API.

Two accounts sign up; the follower follows the author. Each sample is a new photo (phone-sized,
distinct bytes so nothing is deduplicated): ``POST /v1/uploads`` (multipart), and at once
``POST /v1/posts`` with its id; the clock starts when the upload's answer arrives (the upload has
finished) and stops when the follower's ``GET /v1/feed`` first lists the post (polled every
:data:`POLL_S`, so the figure is late by up to that). The post's ``ready_at`` (from the database)
splits the time into processing (the photo's renditions, the post turning ready) and delivery (the
``post.ready`` event through the outbox relay, the fan-out consumer, the push, the read).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa
from PIL import Image

from bench.social.server import free_port
from darkroom.config import Settings
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.storage.schema import posts

__all__ = ["POLL_S", "Sample", "VisibleRun", "make_phone_photo", "measure_visible"]

POLL_S = 0.025
_TIMEOUT_S = 60.0
_PASSWORD = "bench-social-password-1"


@dataclass(frozen=True)
class Sample:
    upload_s: float  # sending the photo until its answer (not part of the figure)
    ready_s: float  # upload answered -> post ready (ready_at)
    visible_s: float  # upload answered -> the follower's feed lists it


@dataclass
class VisibleRun:
    width: int
    height: int
    photo_bytes: int
    samples: list[Sample] = field(default_factory=list)

    def quantile(self, q: float, attr: str = "visible_s") -> float:
        values = sorted(getattr(s, attr) for s in self.samples)
        return float(np.quantile(values, q, method="nearest")) if values else float("nan")

    @property
    def median_delivery_s(self) -> float:
        return statistics.median(s.visible_s - s.ready_s for s in self.samples)


def make_phone_photo(out: Path, seed: int, *, width: int = 4032, height: int = 3024) -> Path:
    """A 12-megapixel JPEG (quality 90) of gradients, shapes and a little noise, different for
    every ``seed``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, size=3)
    img = np.empty((height, width, 3), dtype=np.float32)
    for c in range(3):
        img[..., c] = base[c] + 80 * np.sin(x / (150 + 40 * c + seed % 50)) * np.cos(y / (210 - 30 * c))
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(out, format="JPEG", quality=90)
    return out


def _wait_http(base: str, timeout_s: float = 60.0) -> None:
    give_up = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(f"{base}/openapi.json", timeout=5)
            return
        except httpx.TransportError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.1)


def _person(client: httpx.Client, handle: str) -> str:
    r = client.post("/v1/accounts", json={"handle": handle, "email": f"{handle}@bench.test", "password": _PASSWORD})
    r.raise_for_status()
    r = client.post("/v1/sessions", json={"login": handle, "password": _PASSWORD})
    r.raise_for_status()
    client.cookies.clear()  # the bearer token speaks for it (a session cookie would ask for CSRF tokens)
    return str(r.json()["token"])


def _one(
    client: httpx.Client, author: dict[str, str], follower: dict[str, str], photo: Path, engine: sa.Engine
) -> Sample:
    sent = time.time()
    with photo.open("rb") as f:
        r = client.post("/v1/uploads", headers=author, files={"file": (photo.name, f, "image/jpeg")})
    uploaded = time.time()
    r.raise_for_status()
    r = client.post("/v1/posts", headers=author, json={"caption": "bench", "upload_ids": [r.json()["id"]]})
    r.raise_for_status()
    post_id = r.json()["id"]
    give_up = uploaded + _TIMEOUT_S
    while True:
        page = client.get("/v1/feed", headers=follower, params={"limit": 5, "fields": "id"})
        page.raise_for_status()
        if any(item.get("id") == post_id for item in page.json()["items"]):
            visible = time.time()
            break
        if time.time() > give_up:
            raise TimeoutError(f"post {post_id} not in the follower's feed after {_TIMEOUT_S} s")
        time.sleep(POLL_S)
    with engine.connect() as conn:
        ready_at = conn.execute(sa.select(posts.c.ready_at).where(posts.c.id == post_id)).scalar_one()
    return Sample(uploaded - sent, float(ready_at) - uploaded, visible - uploaded)


def measure_visible(
    home: Path, samples: int, *, progress: Callable[[str], None], width: int = 4032, height: int = 3024
) -> VisibleRun:
    """``samples`` photos (after one unmeasured warm-up) through a fresh platform under ``home``."""
    port = free_port()
    settings = replace(
        Settings.from_env({}), home=home, grpc_addr="127.0.0.1:0", http_addr=f"127.0.0.1:{port}", metrics_port=-1
    )
    # the children inherit the environment: polling from one address must not meet its rate limit
    os.environ["DARKROOM_HTTP_RATE_PER_IP"] = "1000000/1"
    os.environ["DARKROOM_HTTP_RATE_PER_ACCOUNT"] = "1000000/1"
    platform = LocalPlatform(settings, PlatformConfig(metrics=False, social=True, grace_s=10))
    wiring = platform.start()
    photos = home / "photos"
    photos.mkdir()
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(base)
        with httpx.Client(base_url=base, timeout=60) as client:
            author = {"Authorization": f"Bearer {_person(client, 'author')}"}
            follower = {"Authorization": f"Bearer {_person(client, 'follower')}"}
            client.post("/v1/accounts/author/follow", headers=follower).raise_for_status()
            first = make_phone_photo(photos / "warm.jpg", 0, width=width, height=height)
            run = VisibleRun(width, height, first.stat().st_size)
            _one(client, author, follower, first, wiring.db)  # warm-up: workers, pools, scripts
            for i in range(samples):
                photo = make_phone_photo(photos / f"p{i}.jpg", i + 1, width=width, height=height)
                run.samples.append(_one(client, author, follower, photo, wiring.db))
                progress(f"visible {i + 1}/{samples}: {run.samples[-1].visible_s:.2f} s")
                photo.unlink()
        return run
    finally:
        platform.stop()
