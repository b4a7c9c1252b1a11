"""A package's files by their paths, for the media route: tree manifests (``runtime.files``) read
from the blob store once and kept. A manifest's key is its content's hash, so a kept one is never
stale; the budget counts files, since one manifest of a long video lists thousands."""

from __future__ import annotations

import threading
from collections import OrderedDict

from darkroom.runtime.files import TreeEntry, read_tree
from darkroom.social.media import PackageFile
from darkroom.storage.blobs import BlobNotFound, BlobStore

__all__ = ["PackageIndex"]


class PackageIndex:
    """The stored file behind each ``pkg/{digest}/{path}``; the least recently used manifests go
    first once more than ``max_files`` files are kept."""

    def __init__(self, blobs: BlobStore, *, max_files: int = 200_000) -> None:
        if max_files < 1:
            raise ValueError(f"max_files must be >= 1, not {max_files!r}")
        self._blobs = blobs
        self._max_files = max_files
        self._trees: OrderedDict[str, dict[str, TreeEntry]] = OrderedDict()
        self._files = 0
        self._lock = threading.Lock()  # routes run on a thread pool

    def member(self, package: PackageFile) -> TreeEntry | None:
        """The file at ``package.path`` in its tree; None when the tree or the path is not there."""
        files = self._tree(package.tree_key)
        return None if files is None else files.get(package.path)

    def _tree(self, key: str) -> dict[str, TreeEntry] | None:
        with self._lock:
            files = self._trees.get(key)
            if files is not None:
                self._trees.move_to_end(key)
                return files
        try:
            files = {entry.path: entry for entry in read_tree(self._blobs, key)}
        except BlobNotFound:
            return None
        with self._lock:
            if key not in self._trees:
                self._trees[key] = files
                self._files += len(files)
            while self._files > self._max_files and len(self._trees) > 1:
                _, dropped = self._trees.popitem(last=False)
                self._files -= len(dropped)
        return files
