"""web.packages.PackageIndex: a package's files by path, manifests read once and kept within a
budget of files (least recently used out first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.runtime.files import put_tree, read_tree, tree_digest
from darkroom.social.media import PackageFile
from darkroom.storage.blobs import LocalBlobs
from darkroom.web.packages import PackageIndex


class CountingBlobs(LocalBlobs):
    """A local store that counts whole-blob reads (how manifests are read)."""

    reads = 0

    def get_bytes(self, key: str) -> bytes:
        self.reads += 1
        return super().get_bytes(key)


def _folder(blobs: LocalBlobs, root: Path, name: str, files: int) -> str:
    for i in range(files):
        (root / name / "hls").mkdir(parents=True, exist_ok=True)
        (root / name / "hls" / f"seg_{i}.m4s").write_bytes(f"{name} {i}".encode())
    return tree_digest(put_tree(blobs, root / name))


def test_members_by_path_and_manifests_kept_within_the_budget(tmp_path: Path) -> None:
    blobs = CountingBlobs(tmp_path / "blobs")
    a, b, c = (_folder(blobs, tmp_path, name, 3) for name in "abc")
    index = PackageIndex(blobs, max_files=6)
    entry = index.member(PackageFile(a, "hls/seg_1.m4s"))
    assert entry is not None and blobs.get_bytes(entry.key) == b"a 1"
    reads = blobs.reads
    assert index.member(PackageFile(a, "hls/seg_9.m4s")) is None  # not in the package
    assert index.member(PackageFile(a, "hls/seg_2.m4s")) is not None and blobs.reads == reads  # kept
    assert index.member(PackageFile("0" * 64, "hls/seg_1.m4s")) is None  # no such package
    index.member(PackageFile(b, "hls/seg_0.m4s"))
    index.member(PackageFile(a, "hls/seg_0.m4s"))  # a is the most recently used now
    index.member(PackageFile(c, "hls/seg_0.m4s"))  # over 6 files: b goes
    before = blobs.reads
    index.member(PackageFile(a, "hls/seg_0.m4s"))
    assert blobs.reads == before
    index.member(PackageFile(b, "hls/seg_0.m4s"))
    assert blobs.reads == before + 1
    assert len(read_tree(blobs, PackageFile(c, "x").tree_key)) == 3
    with pytest.raises(ValueError, match="max_files"):
        PackageIndex(blobs, max_files=0)
