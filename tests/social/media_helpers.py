"""Helpers for the upload and post tests: accounts written straight into the table, tiny real media,
starters (one that records what it is asked, one that runs the real runtime) and the outbox."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from PIL import Image

from darkroom.media.package import Package
from darkroom.media.storyboard import Poster, Storyboard
from darkroom.runtime.workflow import Workflows
from darkroom.services import ServiceRequest, StreamingRequest
from darkroom.social.ids import new_id
from darkroom.social.processing import AfterCommit
from darkroom.social.viewer import Role, Viewer
from darkroom.storage.schema import accounts, blocks, outbox

CORPUS = Path(__file__).parents[1] / "media" / "corpus"
CLIP_NAMED_JPG = CORPUS / "video_named.jpg"  # 1 s, 160x90 H.264 + AAC in MP4, named .jpg


def video_outputs(done: Package, cover: Poster, board: Storyboard) -> dict[str, Any]:
    """The outputs the streaming workflow's last steps record for a video (package, poster,
    storyboard), as the tests that fake a finished run write them."""
    return {
        "package": done.out_dir,
        "master": done.master,
        "mpd": done.mpd,
        "packaged": [{"name": r.name, "width": r.width, "height": r.height} for r in done.renditions],
        "poster": {"file": cover.path, "width": cover.width, "height": cover.height},
        "storyboard": {"files": board.vtt.parent, "vtt": board.vtt, "tiles": board.tiles,
                       "tile_width": board.tile_width, "tile_height": board.tile_height},
    }  # fmt: skip


def make_account(conn: sa.Connection, handle: str, *, private: bool = False, admin: bool = False) -> Viewer:
    now = time.time()
    account_id = new_id()
    conn.execute(
        sa.insert(accounts),
        {"id": account_id, "handle": handle, "email": f"{handle}@example.com", "private": private,
         "role": "admin" if admin else "user", "password_hash": "x", "created_at": now, "updated_at": now},
    )  # fmt: skip
    return Viewer(account_id, handle, role=Role.ADMIN if admin else Role.USER)


def block(conn: sa.Connection, blocker: Viewer, blocked: Viewer) -> None:
    conn.execute(
        sa.insert(blocks),
        {"blocker_id": blocker.account_id, "blocked_id": blocked.account_id, "created_at": time.time()},
    )


def jpeg_bytes(width: int = 96, height: int = 64, colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG", quality=90)
    return out.getvalue()


def event_types(conn: sa.Connection) -> list[str]:
    return list(conn.execute(sa.select(outbox.c.type).order_by(outbox.c.seq)).scalars())


class CountingStream(io.RawIOBase):
    """A readable stream over ``data`` that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk


@dataclass
class Recorded:
    """A starter that records each start and starts nothing (no runtime needed)."""

    starts: list[tuple[ServiceRequest, str]] = field(default_factory=list)

    def __call__(self, request: ServiceRequest, *, run_id: str) -> None:
        self.starts.append((request, run_id))


# The streaming profile as it is, but cheap for a 1 s 160x90 clip: a fixed one-rung ladder (no
# trial encodes), no chunking, and a title profile that takes 90 lines.
CHEAP_VIDEO = {
    "profile": {"min_height": 90},
    "ladder": "fixed",
    "ladder_options": {"mode": "fixed", "preset": "ultrafast", "gop_s": 1.0, "segment_s": 1.0},
    "chunk": "never",
}


@dataclass
class CheapStarts:
    """The real starter (:class:`AfterCommit`) with video requests made cheap for tests."""

    workflows: Workflows
    inner: AfterCommit = field(init=False)

    def __post_init__(self) -> None:
        self.inner = AfterCommit(self.workflows)

    def __call__(self, request: ServiceRequest, *, run_id: str) -> None:
        if isinstance(request, StreamingRequest):
            request = StreamingRequest.parse({**request.model_dump(by_alias=True), **CHEAP_VIDEO})
        self.inner(request, run_id=run_id)

    def flush(self) -> list[str]:
        return self.inner.flush()
