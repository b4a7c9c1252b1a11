"""Blob stores: one contract suite run against the local directory and S3 (moto's standalone server).

The S3 backend talks to a real ``moto.server`` subprocess on a free 127.0.0.1 port, with dummy
credentials; without it the S3 tests skip locally and fail in CI (``CI`` set).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import darkroom.storage.blobs.local as local_module
from darkroom.config import Settings
from darkroom.storage.blobs import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    InvalidBlobKey,
    InvalidStorageUrl,
    LocalBlobs,
    S3Blobs,
    StorageError,
    blobs_from_settings,
    content_key,
    open_blobs,
    validate_key,
)
from darkroom.storage.errors import InvalidByteRange

MiB = 1 << 20
BAD_KEYS = [
    "",
    "../x",
    "a/../../b",
    "/abs",
    "a//b",
    "a/",
    "a\\b",
    "a\x00b",
    "a\nb",
    "./a",
    "a/./b",
    ".hidden",
    "x" * 1025,
    "a/" + "y" * 256,
]


@pytest.fixture
def count_s3_calls(s3_client: Any) -> Iterator[Callable[[str], list[str]]]:
    """``watch("PutObject")`` returns a list that grows by one per such request from the shared client."""
    registered: list[tuple[str, Callable[..., None]]] = []

    def watch(operation: str) -> list[str]:
        calls: list[str] = []

        def hook(**_: Any) -> None:
            calls.append(operation)

        event = f"before-call.s3.{operation}"
        s3_client.meta.events.register(event, hook)
        registered.append((event, hook))
        return calls

    yield watch
    for event, hook in registered:
        s3_client.meta.events.unregister(event, hook)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _keys(store: BlobStore, prefix: str = "") -> list[str]:
    return [info.key for info in store.list(prefix)]


# --- contract: every backend ---------------------------------------------------------------------


def test_bytes_round_trip(store: BlobStore) -> None:
    info = store.put_bytes("photos/2024/a.jpg", b"jpeg bytes", content_type="image/jpeg")
    assert (info.key, info.size_bytes) == ("photos/2024/a.jpg", 10)
    assert store.get_bytes("photos/2024/a.jpg") == b"jpeg bytes"
    assert store.exists("photos/2024/a.jpg")
    stat = store.stat("photos/2024/a.jpg")
    assert (stat.key, stat.size_bytes, stat.etag) == (info.key, 10, info.etag)
    assert stat.modified_at is not None


def test_file_round_trip_creates_parents_and_leaves_only_the_file(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    src = _write(tmp_path / "in" / "clip.mp4", data)
    assert store.put_file("videos/clip.mp4", src).size_bytes == len(data)
    dest = tmp_path / "out" / "deep" / "clip.mp4"
    assert store.get_file("videos/clip.mp4", dest) == dest
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["clip.mp4"]


def test_get_file_replaces_an_existing_destination(store: BlobStore, tmp_path: Path) -> None:
    store.put_bytes("k", b"new")
    dest = _write(tmp_path / "dest", b"old and longer")
    store.get_file("k", dest)
    assert dest.read_bytes() == b"new"


def test_empty_blob(store: BlobStore, tmp_path: Path) -> None:
    assert store.put_file("empty", _write(tmp_path / "e", b"")).size_bytes == 0
    assert store.get_bytes("empty") == b""
    assert store.get_file("empty", tmp_path / "got").read_bytes() == b""


def test_overwrite_replaces_content(store: BlobStore) -> None:
    store.put_bytes("a/k", b"first version")
    info = store.put_bytes("a/k", b"second")
    assert info.size_bytes == 6
    assert store.get_bytes("a/k") == b"second"
    assert store.stat("a/k").size_bytes == 6
    assert _keys(store) == ["a/k"]


def test_open_streams_the_blob(store: BlobStore) -> None:
    data = os.urandom(3 * MiB + 17)
    store.put_bytes("big", data)
    with store.open("big") as reader:
        parts = [reader.read(1000), reader.read(MiB), reader.read()]
    assert b"".join(parts) == data
    assert len(parts[0]) == 1000


def test_open_range_reads_that_part_only(store: BlobStore) -> None:
    data = os.urandom(3 * MiB + 17)
    store.put_bytes("big", data)
    size = len(data)
    cases = [(0, 10), (MiB + 3, 1000), (size - 5, 5), (size - 5, 100), (0, size), (7, 0), (size, 10), (size + 9, 1)]
    for start, length in cases:
        with store.open_range("big", start, length) as reader:
            assert reader.read() == data[start : start + length], (start, length)
    with store.open_range("big", 100, 2 * MiB) as reader:  # read piecewise, as the media route does
        parts = [reader.read(1000), reader.read(MiB), reader.read(MiB), reader.read()]
    assert b"".join(parts) == data[100 : 100 + 2 * MiB] and parts[-1] == b""
    store.put_bytes("empty", b"")
    with store.open_range("empty", 0, 10) as reader:
        assert reader.read() == b""
    for start, length in ((-1, 10), (0, -1)):
        with pytest.raises(InvalidByteRange, match=f"start={start}, length={length}") as caught:
            store.open_range("big", start, length)
        assert isinstance(caught.value, ValueError)
    for start, length in ((0, 10), (0, 0)):
        with pytest.raises(BlobNotFound, match="'nothing'"):
            store.open_range("nothing", start, length)


def test_unicode_and_punctuation_keys_round_trip(store: BlobStore) -> None:
    keys = ["photos/été 2024/ça va?.jpg", "a-b_c.d/e+f=g@h", "日本/写真.png"]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert _keys(store) == sorted(keys)
    assert all(store.get_bytes(k) == k.encode() for k in keys)


def test_missing_blob_raises_blob_not_found(store: BlobStore, tmp_path: Path) -> None:
    store.put_bytes("there/x", b"1")
    for key in ("nothing", "there", "there/x/y"):
        for call in (store.stat, store.get_bytes, store.open):
            with pytest.raises(BlobNotFound, match=re.escape(repr(key))) as caught:
                call(key)
            assert isinstance(caught.value, LookupError)
        assert not store.exists(key)
        assert store.delete(key) is False
    dest = tmp_path / "dl" / "nothing"
    with pytest.raises(BlobNotFound):
        store.get_file("nothing", dest)
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_delete(store: BlobStore) -> None:
    store.put_bytes("d/one", b"1")
    store.put_bytes("d/two", b"2")
    assert store.delete("d/one") is True
    assert store.delete("d/one") is False
    assert not store.exists("d/one")
    assert _keys(store) == ["d/two"]
    assert store.get_bytes("d/two") == b"2"


def test_list_is_sorted_by_key_and_filters_by_string_prefix(store: BlobStore) -> None:
    sizes = {"b/2": 3, "a/b": 1, "a-c": 2, "a/a/z": 4, "ab": 5, "a0": 6, "c": 7}
    for key, size in sizes.items():
        store.put_bytes(key, b"x" * size)
    everything = list(store.list())
    assert [i.key for i in everything] == ["a-c", "a/a/z", "a/b", "a0", "ab", "b/2", "c"]
    assert all(isinstance(i, BlobInfo) and i.size_bytes == sizes[i.key] for i in everything)
    assert _keys(store, "a/") == ["a/a/z", "a/b"]
    assert _keys(store, "a") == ["a-c", "a/a/z", "a/b", "a0", "ab"]
    assert _keys(store, "a/a") == ["a/a/z"]
    assert _keys(store, "a/b") == ["a/b"]
    assert _keys(store, "b/2") == ["b/2"]
    assert _keys(store, "zz") == []
    assert _keys(store, "nope/") == []


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_rejected_by_every_operation(store: BlobStore, tmp_path: Path, key: str) -> None:
    src = _write(tmp_path / "src", b"data")
    calls: list[Callable[[], object]] = [
        lambda: store.put_bytes(key, b"data"),
        lambda: store.put_file(key, src),
        lambda: store.get_bytes(key),
        lambda: store.get_file(key, tmp_path / "dest"),
        lambda: store.open(key),
        lambda: store.open_range(key, 0, 1),
        lambda: store.stat(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ]
    for call in calls:
        with pytest.raises(InvalidBlobKey) as caught:
            call()
        assert isinstance(caught.value, ValueError)
        assert repr(key)[:50] in str(caught.value)
    assert _keys(store) == []
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("prefix", ["../", "/a", "a//", "a\\"])
def test_bad_list_prefixes_are_rejected(store: BlobStore, prefix: str) -> None:
    with pytest.raises(InvalidBlobKey, match=re.escape(repr(prefix))):
        store.list(prefix)


def test_content_addressed_keys(store: BlobStore, tmp_path: Path) -> None:
    data = b"rendition bytes"
    digest = hashlib.sha256(data).hexdigest()
    first = store.put_content(_write(tmp_path / "a.mp4", data), suffix=".mp4")
    assert first.key == f"cas/sha256/{digest[:2]}/{digest}.mp4" == content_key(digest, suffix=".mp4")
    assert first.size_bytes == len(data)
    again = store.put_content(_write(tmp_path / "copy.bin", data), suffix=".mp4")
    assert again.key == first.key
    other = store.put_content(_write(tmp_path / "b.mp4", b"other bytes"), suffix=".mp4")
    assert other.key != first.key
    assert store.get_bytes(first.key) == data
    assert store.get_bytes(other.key) == b"other bytes"
    custom = store.put_content(tmp_path / "a.mp4", prefix="renditions/v1", suffix="")
    assert custom.key == f"renditions/v1/sha256/{digest[:2]}/{digest}"
    assert _keys(store, "cas/") == sorted([first.key, other.key])


@pytest.mark.parametrize(("prefix", "suffix"), [("../up", ""), ("cas", "/x"), ("cas", "\x00"), ("/abs", ".jpg")])
def test_content_addressing_rejects_bad_prefix_or_suffix(
    store: BlobStore, tmp_path: Path, prefix: str, suffix: str
) -> None:
    with pytest.raises(InvalidBlobKey):
        store.put_content(_write(tmp_path / "f", b"x"), prefix=prefix, suffix=suffix)
    assert _keys(store) == []


def test_missing_source_file(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_file("k", tmp_path / "gone")
    with pytest.raises(FileNotFoundError):
        store.put_content(tmp_path / "gone")
    assert _keys(store) == []


# --- key rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "a/b/c.jpg", "x" * 255, "/".join(["s" * 200] * 5), "with space/é", "a..b/c."])
def test_validate_key_accepts(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", [*BAD_KEYS, "a\x7fb", "a\x85b", "\udcff", "/".join(["s" * 250] * 5)], ids=repr)
def test_validate_key_rejects_naming_the_key(key: str) -> None:
    with pytest.raises(InvalidBlobKey) as caught:
        validate_key(key)
    assert repr(key)[:50] in str(caught.value)


def test_validate_key_rejects_non_strings() -> None:
    with pytest.raises(InvalidBlobKey, match="str"):
        validate_key(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("digest", ["", "A" * 64, "g" * 64, "a" * 63])
def test_content_key_rejects_bad_digests(digest: str) -> None:
    with pytest.raises(InvalidBlobKey):
        content_key(digest)


# --- local directory -----------------------------------------------------------------------------


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _boom(*_: object, **__: object) -> None:
    raise OSError(5, "simulated I/O error")


class _FailingHash:
    """A SHA-256 whose second update raises: the copy fails after data reached the temp file."""

    def __init__(self) -> None:
        self.updates = 0

    def update(self, _chunk: bytes) -> None:
        self.updates += 1
        if self.updates == 2:
            raise OSError(5, "simulated failure mid-copy")

    def hexdigest(self) -> str:  # pragma: no cover - never reached
        return "0" * 64


@pytest.mark.parametrize("failure", ["fsync", "rename", "mid-copy", "source-vanished"])
def test_local_failed_write_leaves_the_old_blob_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("media/k", b"old")
    src = _write(tmp_path / "src", os.urandom(64 * 1024))
    monkeypatch.setattr(local_module, "_CHUNK_BYTES", 4096)
    if failure == "fsync":
        monkeypatch.setattr(os, "fsync", _boom)
    elif failure == "rename":
        monkeypatch.setattr(os, "replace", _boom)
    elif failure == "mid-copy":
        monkeypatch.setattr(local_module, "hashlib", SimpleNamespace(sha256=_FailingHash))
    else:
        src.unlink()
    with pytest.raises(OSError):
        if failure == "mid-copy":
            blobs.put_content(src)
        else:
            blobs.put_file("media/k", src)
    monkeypatch.undo()
    assert blobs.get_bytes("media/k") == b"old"
    assert _keys(blobs) == ["media/k"]
    assert _files_under(blobs.root) == ["media/k"]  # nothing in .tmp, no partial file anywhere


def test_local_failed_download_keeps_the_old_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("k", b"new content")
    dest = _write(tmp_path / "out" / "file", b"previous")
    monkeypatch.setattr(os, "replace", _boom)
    with pytest.raises(OSError, match="simulated"):
        blobs.get_file("k", dest)
    monkeypatch.undo()
    assert dest.read_bytes() == b"previous"
    assert [p.name for p in dest.parent.iterdir()] == ["file"]


def test_local_list_skips_temp_files_and_dot_names(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("a/real", b"1")
    _write(blobs.root / ".tmp" / "abc.part", b"partial")
    _write(blobs.root / "a" / ".a.real.123.part", b"partial")
    _write(blobs.root / ".DS_Store", b"junk")
    assert _keys(blobs) == ["a/real"]
    assert _keys(blobs, "a/") == ["a/real"]


def test_local_a_key_cannot_be_both_a_blob_and_a_prefix(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("a", b"file")
    blobs.put_bytes("b/c", b"nested")
    with pytest.raises(StorageError, match=re.escape("'a/x'")):
        blobs.put_bytes("a/x", b"1")
    with pytest.raises(StorageError, match=re.escape("'b'")):
        blobs.put_bytes("b", b"1")
    assert _files_under(blobs.root) == ["a", "b/c"]


def test_local_delete_prunes_emptied_directories(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("x/y/z/one", b"1")
    blobs.put_bytes("x/keep", b"2")
    assert blobs.delete("x/y/z/one")
    assert not (blobs.root / "x" / "y").exists()
    assert (blobs.root / "x" / "keep").is_file()
    blobs.put_bytes("x/y/z/one", b"again")  # directories come back on the next write
    assert blobs.get_bytes("x/y/z/one") == b"again"


def test_local_sweep_temp_removes_only_old_leftovers(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    assert blobs.sweep_temp() == 0
    old = _write(blobs.root / ".tmp" / "old.part", b"x")
    fresh = _write(blobs.root / ".tmp" / "fresh.part", b"x")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    assert blobs.sweep_temp(older_than_s=3600) == 1
    assert not old.exists()
    assert fresh.exists()


def test_local_blobs_get_the_usual_file_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("k", b"1")
    assert (blobs.root / "k").stat().st_mode & 0o777 == 0o666 & ~umask


def test_local_readers_see_whole_blobs_while_writers_replace_them(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    versions = [bytes([i]) * (256 * 1024) for i in range(3)]
    blobs.put_bytes("hot", versions[0])
    done = threading.Event()
    seen: list[bytes] = []

    def writer(version: bytes) -> None:
        for _ in range(20):
            blobs.put_bytes("hot", version)

    def reader() -> None:
        while not done.is_set():
            data = blobs.get_bytes("hot")
            if data not in versions:
                seen.append(data[:16])

    threads = [threading.Thread(target=writer, args=(v,)) for v in versions[1:]]
    read_thread = threading.Thread(target=reader)
    read_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    read_thread.join()
    assert seen == []
    assert _files_under(blobs.root) == ["hot"]


def test_local_concurrent_writes_and_deletes_in_one_directory(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    errors: list[BaseException] = []

    def churn(worker: int) -> None:
        try:
            for i in range(100):
                blobs.put_bytes(f"shared/dir/w{worker}-{i}", b"x")
                assert blobs.delete(f"shared/dir/w{worker}-{i}")  # may prune dirs other threads write to
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _keys(blobs) == []


def test_local_put_content_skips_the_copy_when_present(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    src = _write(tmp_path / "f.jpg", b"pixels")
    first = blobs.put_content(src, suffix=".jpg")
    inode = (blobs.root / first.key).stat().st_ino
    assert blobs.put_content(src, suffix=".jpg") == first
    assert (blobs.root / first.key).stat().st_ino == inode
    assert _files_under(blobs.root) == [first.key]


# --- S3 ------------------------------------------------------------------------------------------


def test_s3_multipart_upload_round_trip(
    s3_client: Any, bucket: str, tmp_path: Path, count_s3_calls: Callable[[str], list[str]]
) -> None:
    blobs = S3Blobs(bucket, client=s3_client, multipart_threshold_bytes=5 * MiB, multipart_chunk_bytes=5 * MiB)
    data = os.urandom(11 * MiB)
    starts = count_s3_calls("CreateMultipartUpload")
    parts = count_s3_calls("UploadPart")
    info = blobs.put_file("big/video.mov", _write(tmp_path / "video.mov", data), content_type="video/quicktime")
    assert (len(starts), len(parts)) == (1, 3)
    assert info.size_bytes == len(data)
    assert info.etag is not None and info.etag.endswith("-3")
    assert blobs.get_file("big/video.mov", tmp_path / "back.mov").read_bytes() == data
    assert s3_client.head_object(Bucket=bucket, Key="big/video.mov")["ContentType"] == "video/quicktime"


def test_s3_small_upload_is_a_single_put(
    s3_client: Any, bucket: str, tmp_path: Path, count_s3_calls: Callable[[str], list[str]]
) -> None:
    blobs = S3Blobs(bucket, client=s3_client)
    puts = count_s3_calls("PutObject")
    starts = count_s3_calls("CreateMultipartUpload")
    blobs.put_file("small", _write(tmp_path / "small", b"x" * 1000), content_type="image/jpeg")
    assert (len(puts), len(starts)) == (1, 0)
    assert s3_client.head_object(Bucket=bucket, Key="small")["ContentType"] == "image/jpeg"


def test_s3_put_content_skips_the_upload_when_present(
    s3_client: Any, bucket: str, tmp_path: Path, count_s3_calls: Callable[[str], list[str]]
) -> None:
    blobs = S3Blobs(bucket, client=s3_client)
    src = _write(tmp_path / "f.jpg", b"pixels")
    puts = count_s3_calls("PutObject")
    first = blobs.put_content(src, suffix=".jpg")
    assert blobs.put_content(src, suffix=".jpg") == first
    assert len(puts) == 1


def test_s3_objects_live_under_the_prefix(s3_client: Any, bucket: str) -> None:
    blobs = S3Blobs(bucket, "tenant/a/", client=s3_client)
    blobs.put_bytes("x/y", b"1")
    s3_client.put_object(Bucket=bucket, Key="elsewhere", Body=b"2")
    s3_client.put_object(Bucket=bucket, Key="tenant/a/folder/", Body=b"")  # a console's folder marker
    s3_client.put_object(Bucket=bucket, Key="tenant/ab", Body=b"3")
    names = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "tenant/a/x/y" in names
    assert _keys(blobs) == ["x/y"]
    assert S3Blobs(bucket, "tenant/a", client=s3_client).get_bytes("x/y") == b"1"


def test_s3_list_pages_under_the_hood(s3_client: Any, bucket: str, count_s3_calls: Callable[[str], list[str]]) -> None:
    blobs = S3Blobs(bucket, client=s3_client, list_page_size=2)
    keys = [f"k{i}" for i in range(7)]
    for key in reversed(keys):
        blobs.put_bytes(key, b"v")
    pages = count_s3_calls("ListObjectsV2")
    assert _keys(blobs) == keys
    assert len(pages) == 4


def test_s3_ranged_read_asks_only_for_the_range(s3_client: Any, bucket: str) -> None:
    store = S3Blobs(bucket, "ranges", client=s3_client)
    data = os.urandom(2 * MiB)
    store.put_bytes("segment.m4s", data)
    asked: list[str | None] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        asked.append(params["headers"].get("Range"))

    s3_client.meta.events.register("before-call.s3.GetObject", hook)
    try:
        with store.open_range("segment.m4s", MiB + 10, 100) as reader:
            assert reader.read() == data[MiB + 10 : MiB + 110]
    finally:
        s3_client.meta.events.unregister("before-call.s3.GetObject", hook)
    assert asked == [f"bytes={MiB + 10}-{MiB + 109}"]  # one request, and S3 sends those bytes only


def test_s3_missing_bucket_is_a_storage_error(s3_client: Any) -> None:
    blobs = S3Blobs(f"no-such-bucket-{uuid.uuid4().hex[:8]}", client=s3_client)
    with pytest.raises(StorageError) as caught:
        blobs.put_bytes("k", b"1")
    assert not isinstance(caught.value, BlobNotFound)
    with pytest.raises(StorageError):
        list(blobs.list())


def test_s3_key_limit_counts_the_prefix(s3_client: Any, bucket: str) -> None:
    blobs = S3Blobs(bucket, "p" * 100, client=s3_client)
    key = "/".join(["s" * 200] * 5)  # 1004 bytes: valid alone, too long under the prefix
    with pytest.raises(InvalidBlobKey, match="prefix"):
        blobs.put_bytes(key, b"1")


# --- configuration -------------------------------------------------------------------------------


def test_open_blobs_local_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    cases = {
        "": home / "blobs",
        str(tmp_path / "abs"): tmp_path / "abs",
        "relative/dir": tmp_path / "relative" / "dir",
        f"file://{tmp_path}/with%20space": tmp_path / "with space",
        f"file://localhost{tmp_path}/x": tmp_path / "x",
    }
    for url, root in cases.items():
        blobs = open_blobs(url, home=home)
        assert isinstance(blobs, LocalBlobs)
        assert blobs.root == root


def test_open_blobs_s3_urls(aws_env: None) -> None:
    cases = {
        "s3://media-bucket": "",
        "s3://media-bucket/": "",
        "s3://media-bucket/darkroom": "darkroom",
        "s3://media-bucket/darkroom/prod/": "darkroom/prod",
    }
    for url, prefix in cases.items():
        blobs = open_blobs(url, endpoint_url="http://127.0.0.1:9")
        assert isinstance(blobs, S3Blobs)
        assert (blobs.bucket, blobs.prefix, blobs.endpoint_url) == ("media-bucket", prefix, "http://127.0.0.1:9")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/blobs",
        "gs://bucket/x",
        "s3://",
        "s3:///prefix",
        "s3://Bad_Bucket/x",
        "s3://ab",
        "s3://bucket/../x",
        "s3://bucket//x",
        "s3://bucket/a//b",
        "s3://bucket/x?versioning=1",
        "s3://bucket:9000/x",
        "file://otherhost/x",
        "file:relative",
        "c:blobs",
    ],
)
def test_open_blobs_rejects_bad_urls(url: str, aws_env: None) -> None:
    with pytest.raises(InvalidStorageUrl, match=re.escape(repr(url))) as caught:
        open_blobs(url)
    assert isinstance(caught.value, ValueError)


def test_bad_url_messages_hide_credentials(aws_env: None) -> None:
    with pytest.raises(InvalidStorageUrl) as caught:
        open_blobs("s3://user:hunter2@bucket/x")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("endpoint", ["localhost:9000", "ftp://host", "http://"])
def test_open_blobs_rejects_bad_endpoints(endpoint: str, aws_env: None) -> None:
    with pytest.raises(InvalidStorageUrl, match=re.escape(repr(endpoint))):
        open_blobs("s3://bucket", endpoint_url=endpoint)


def test_open_blobs_s3_end_to_end(moto_url: str, s3_client: Any, bucket: str, aws_env: None) -> None:
    blobs = open_blobs(f"s3://{bucket}/darkroom", endpoint_url=moto_url)
    blobs.put_bytes("hello", b"world")
    assert s3_client.get_object(Bucket=bucket, Key="darkroom/hello")["Body"].read() == b"world"
    assert blobs.get_bytes("hello") == b"world"


def test_blobs_from_settings(tmp_path: Path, moto_url: str, s3_client: Any, bucket: str, aws_env: None) -> None:
    local = blobs_from_settings(Settings(home=tmp_path))
    assert isinstance(local, LocalBlobs)
    assert local.root == tmp_path / "blobs"
    env = {"DARKROOM_BLOBS_URL": f"s3://{bucket}/p", "DARKROOM_S3_ENDPOINT_URL": moto_url}
    remote = blobs_from_settings(Settings.from_env(env))
    assert isinstance(remote, S3Blobs)
    remote.put_bytes("k", b"v")
    assert s3_client.get_object(Bucket=bucket, Key="p/k")["Body"].read() == b"v"
