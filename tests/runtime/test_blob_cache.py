"""A worker host's cache of input blobs: reuse, versions, tampering, eviction, and a worker using it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import darkroom.queue as dq
from darkroom.runtime.blob_cache import BlobCache, is_content_key
from darkroom.runtime.files import blob_ref, fetch_inputs, put_tree, tree_ref
from darkroom.runtime.task import TaskSpec
from darkroom.storage.blobs import BlobStore
from darkroom.storage.blobs.base import content_key
from tests.runtime import funcs
from tests.runtime.conftest import Platform


@pytest.fixture
def blobs(store: BlobStore) -> BlobStore:
    """Each test runs against the local directory and S3 (moto): versions come from each one's stat."""
    return store


class Uses(list[tuple[str, int]]):
    """What the cache reported, in order: (hit | miss | bypass, bytes)."""

    def __call__(self, result: str, size: int) -> None:
        self.append((result, size))

    @property
    def results(self) -> list[str]:
        return [r for r, _ in self]


def _cache(tmp_path: Path, max_bytes: int = 1 << 20) -> tuple[BlobCache, Uses]:
    uses = Uses()
    return BlobCache(tmp_path / "cache", max_bytes, on_use=uses), uses


def _cas(blobs: BlobStore, tmp_path: Path, data: bytes) -> str:
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    return str(blobs.put_content(src, suffix=".bin").key)


def test_content_keys_are_recognised_and_nothing_else() -> None:
    assert is_content_key(content_key("ab" * 32))
    assert is_content_key(content_key("ab" * 32, prefix="outputs/x", suffix=".mp4"))
    assert not is_content_key("uploads/sha256/ab/" + "ab" * 31)  # one hex digit short
    assert not is_content_key("uploads/clip.mp4")
    assert not is_content_key("sha256/ab/" + "cd" * 32)  # the folder must be the digest's first two digits


def test_a_content_addressed_blob_is_downloaded_once_then_linked(blobs: BlobStore, tmp_path: Path) -> None:
    cache, uses = _cache(tmp_path)
    key = _cas(blobs, tmp_path, b"source bytes")
    first = cache.get_file(blobs, key, tmp_path / "task1" / "in.bin")
    blobs.delete(key)  # a second download would now fail: only the cache can serve it
    second = cache.get_file(blobs, key, tmp_path / "task2" / "in.bin")
    assert first.read_bytes() == second.read_bytes() == b"source bytes"
    assert uses.results == ["miss", "hit"]
    assert os.stat(first).st_ino == os.stat(second).st_ino, "a hit is a hard link, not a copy"
    assert not os.access(second, os.W_OK) or os.geteuid() == 0, "entries are read-only"


def test_a_replaced_mutable_blob_is_downloaded_again(blobs: BlobStore, tmp_path: Path) -> None:
    cache, uses = _cache(tmp_path)
    blobs.put_bytes("uploads/clip.mp4", b"version one")
    assert cache.get_file(blobs, "uploads/clip.mp4", tmp_path / "a").read_bytes() == b"version one"
    assert cache.get_file(blobs, "uploads/clip.mp4", tmp_path / "b").read_bytes() == b"version one"
    blobs.put_bytes("uploads/clip.mp4", b"version two")  # same size: the ETag or mtime tells them apart
    assert cache.get_file(blobs, "uploads/clip.mp4", tmp_path / "c").read_bytes() == b"version two"
    assert uses.results == ["miss", "hit", "miss"]


def test_an_entry_written_through_a_task_link_is_never_served_again(blobs: BlobStore, tmp_path: Path) -> None:
    cache, uses = _cache(tmp_path)
    key = _cas(blobs, tmp_path, b"pristine")
    got = cache.get_file(blobs, key, tmp_path / "task1" / "in.bin")
    os.chmod(got, 0o644)  # a careless function (root ignores the mode anyway)
    got.write_bytes(b"scribbled")
    again = cache.get_file(blobs, key, tmp_path / "task2" / "in.bin")
    assert again.read_bytes() == b"pristine"
    assert uses.results == ["miss", "miss"]


def test_the_least_recently_used_entries_go_first_and_a_large_blob_bypasses(blobs: BlobStore, tmp_path: Path) -> None:
    cache, uses = _cache(tmp_path, max_bytes=250)
    keys = []
    for i in range(3):
        blobs.put_bytes(f"uploads/{i}", bytes([i]) * 100)
        keys.append(f"uploads/{i}")
    cache.get_file(blobs, keys[0], tmp_path / "t" / "0")
    cache.get_file(blobs, keys[1], tmp_path / "t" / "1")
    cache.get_file(blobs, keys[0], tmp_path / "t" / "0b")  # 0 is now more recent than 1
    cache.get_file(blobs, keys[2], tmp_path / "t" / "2")  # 300 bytes > 250: the least recent (1) goes
    assert cache.size_bytes() == 200
    cache.get_file(blobs, keys[0], tmp_path / "t" / "0c")
    cache.get_file(blobs, keys[1], tmp_path / "t" / "1b")
    assert uses.results == ["miss", "miss", "hit", "miss", "hit", "miss"]

    blobs.put_bytes("uploads/big", b"x" * 251)
    assert cache.get_file(blobs, "uploads/big", tmp_path / "t" / "big").stat().st_size == 251
    assert uses[-1] == ("bypass", 251) and cache.size_bytes() <= 250


def test_no_cache_at_zero_bytes(blobs: BlobStore, tmp_path: Path) -> None:
    cache, uses = _cache(tmp_path, max_bytes=0)
    key = _cas(blobs, tmp_path, b"abc")
    cache.get_file(blobs, key, tmp_path / "a")
    cache.get_file(blobs, key, tmp_path / "b")
    assert uses.results == ["bypass", "bypass"] and not (tmp_path / "cache").exists()


def test_a_tree_argument_is_served_file_by_file_from_the_cache(blobs: BlobStore, tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    (folder / "720p").mkdir(parents=True)
    (folder / "master.m3u8").write_bytes(b"#EXTM3U\n")
    (folder / "720p" / "seg-1.m4s").write_bytes(b"segment")
    args = {"pkg": tree_ref(put_tree(blobs, folder)), "master": blob_ref(_cas(blobs, tmp_path, b"#EXTM3U\n"))}
    cache, uses = _cache(tmp_path)
    first = fetch_inputs(args, blobs, tmp_path / "task1", cache)
    second = fetch_inputs(args, blobs, tmp_path / "task2", cache)
    assert (second["pkg"] / "720p" / "seg-1.m4s").read_bytes() == b"segment"
    assert second["master"].read_bytes() == first["master"].read_bytes() == b"#EXTM3U\n"
    assert uses.results == ["miss"] * 3 + ["hit"] * 3  # two tree files and the argument, each once


def test_a_worker_fetches_a_source_its_tasks_share_once(platform: Platform, blobs: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(64 << 10)
    blobs.put_bytes("uploads/source.bin", data)
    cache, uses = _cache(tmp_path)
    platform.start_worker(blobs=blobs, blob_cache=cache, concurrency=1)
    spec = TaskSpec("digest", {"file": blob_ref("uploads/source.bin")}).encode()
    ids = [platform.rq.enqueue(funcs.QUEUE, spec) for _ in range(4)]
    platform.until(lambda: all(platform.rq.get(funcs.QUEUE, m).state == dq.State.COMPLETED for m in ids))
    want = hashlib.sha256(data).hexdigest()
    assert all(json.loads(platform.rq.get(funcs.QUEUE, m).result or "{}")["sha256"] == want for m in ids)
    assert uses == [("miss", len(data))] + [("hit", len(data))] * 3
    assert not [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()], "scratch links are removed"
