"""Service fixtures: the real runtime (engine + worker threads over Redis and SQLite) with the
services' registry, a local blob store (the workers' resources carry it), and small clips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.media.ffmpeg import run
from darkroom.services import registry
from darkroom.storage.blobs import BlobStore, open_blobs
from darkroom.storage.db import open_database
from tests.media.conftest import phone_clip  # noqa: F401  (a fixture: real phone footage)
from tests.runtime.conftest import Platform


@pytest.fixture
def services(rq: dq.RedisQueue, tmp_path: Path) -> Iterator[Platform]:
    db: sa.Engine = open_database(f"sqlite:///{tmp_path / 'meta.db'}")
    p = Platform(rq, db, registry, tmp_path / "scratch")
    yield p
    p.stop()
    db.dispose()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    """The store the worker moves files through and gives its functions (the complexity service
    keeps its analyses there): no environment variable names it."""
    return open_blobs(str(tmp_path / "blobs"))


@pytest.fixture(scope="module")
def source_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, 320x180, 25 fps H.264 with a stereo AAC tone."""
    out = tmp_path_factory.mktemp("clips") / "clip.mp4"
    args = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2"]
    args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-ac", "2"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    run([*args, str(out)], timeout_s=60, what="making a test clip")
    return out


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s, 320x180, 25 fps (100 frames) with a hard scene cut at 2 s, and a stereo tone."""
    out = tmp_path_factory.mktemp("clips") / "cut.mp4"
    args = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=2"]
    args += ["-f", "lavfi", "-i", "mandelbrot=size=320x180:rate=25,trim=duration=2"]
    args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4"]
    args += ["-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-map", "2:a", "-ac", "2"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    run([*args, str(out)], timeout_s=60, what="making a test clip with a scene cut")
    return out


def scratch_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()]
