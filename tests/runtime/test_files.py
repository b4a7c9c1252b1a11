"""Blob and tree references between a task's scratch space and the blob store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from darkroom.runtime.errors import PermanentError
from darkroom.runtime.files import (
    TREE,
    fetch_inputs,
    get_tree,
    is_tree_ref,
    put_tree,
    read_tree,
    store_outputs,
)
from darkroom.storage.blobs.local import LocalBlobs
from darkroom.storage.errors import InvalidBlobKey


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobs:
    return LocalBlobs(tmp_path / "blobs")


PACKAGE = {
    "master.m3u8": b"#EXTM3U\n",
    "manifest.mpd": b"<MPD/>",
    "720p/init.mp4": b"init",
    "720p/seg-00001.m4s": b"one",
    "720p/seg-00002.m4s": b"same",
    "360p/seg-00001.m4s": b"same",  # identical content in two places: one blob, two paths
}


def test_a_returned_folder_travels_as_a_tree_and_comes_back_identical(blobs: LocalBlobs, tmp_path: Path) -> None:
    root = _folder(tmp_path / "scratch" / "package", PACKAGE)
    (root / ".partial.tmp").write_bytes(b"scratch dropping")
    out = store_outputs({"package": Path("package"), "n": 3}, blobs, tmp_path / "scratch")
    assert is_tree_ref(out["package"]) and out["n"] == 3

    entries = read_tree(blobs, out["package"][TREE])
    assert [e.path for e in entries] == sorted(PACKAGE)
    assert len({e.key for e in entries}) == len(PACKAGE) - 1

    back = fetch_inputs({"pkg": out["package"]}, blobs, tmp_path / "inbox")["pkg"]
    assert isinstance(back, Path) and back.is_dir()
    got = {p.relative_to(back).as_posix(): p.read_bytes() for p in back.rglob("*") if p.is_file()}
    assert got == PACKAGE


def test_the_same_folder_gets_the_same_key_and_a_changed_file_a_new_one(blobs: LocalBlobs, tmp_path: Path) -> None:
    first = put_tree(blobs, _folder(tmp_path / "a", PACKAGE))
    assert put_tree(blobs, _folder(tmp_path / "b", PACKAGE)) == first
    changed = put_tree(blobs, _folder(tmp_path / "c", {**PACKAGE, "master.m3u8": b"#EXTM3U\n#v2\n"}))
    assert changed != first


def test_an_empty_folder_is_an_empty_tree(blobs: LocalBlobs, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    key = put_tree(blobs, tmp_path / "empty")
    assert read_tree(blobs, key) == []
    assert list(get_tree(blobs, key, tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/passwd", "a//b", ".hidden"])
def test_a_manifest_path_that_could_escape_the_folder_is_refused(blobs: LocalBlobs, tmp_path: Path, bad: str) -> None:
    blob = blobs.put_bytes("cas/x", b"data").key
    manifest = json.dumps({"files": [{"path": bad, "key": blob, "bytes": 4}]}).encode()
    blobs.put_bytes("trees/evil.tree.json", manifest)
    with pytest.raises(InvalidBlobKey, match="invalid blob key"):
        get_tree(blobs, "trees/evil.tree.json", tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_a_malformed_manifest_is_a_permanent_error_naming_it(blobs: LocalBlobs, tmp_path: Path) -> None:
    blobs.put_bytes("trees/bad.tree.json", b'{"entries": []}')
    with pytest.raises(PermanentError, match=r"trees/bad\.tree\.json"):
        read_tree(blobs, "trees/bad.tree.json")


def test_a_returned_path_that_is_neither_file_nor_folder_is_refused(blobs: LocalBlobs, tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="not a file or a folder"):
        store_outputs(Path("missing"), blobs, tmp_path)
