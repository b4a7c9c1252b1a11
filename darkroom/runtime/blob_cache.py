"""A worker host's cache of input blobs, so the tasks of one source download it once.

A chunked encode is a map whose every item takes the same source; without a cache each item
downloads the whole file (N downloads instead of one per host). Entries are files under the cache
directory, handed to a task as **hard links** in its scratch space (a copy only when the two are
on different filesystems), so a hit costs no I/O.

What makes an entry safe to reuse:
- **Versions.** A content-addressed key (``…/sha256/…``) names immutable bytes and is used as is.
  Any other key (an upload that can be replaced) is cached under its ``stat`` (size, ETag,
  modification time), one HEAD or ``stat`` per use; a blob replaced during the download is not
  cached (its stat before and after differ).
- **Tampering.** Entries are read-only and carry a sentinel mtime; a task writing to its input
  through the link changes the mtime, and the entry is dropped instead of served again.
- **Races.** Downloads go to a temporary name and are renamed into place; threads of one worker
  wait for each other per entry, other processes on the host may at worst download it twice.

Eviction is least-recently-used (atime, set on every use) down to ``max_bytes``; a blob larger
than the cache is downloaded straight into scratch. Evicting never disturbs a running task: its
hard link keeps the bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from darkroom.storage.blobs.base import BlobInfo, BlobStore

__all__ = ["BlobCache", "is_content_key"]

# content_key(): "{prefix/}sha256/{h[:2]}/{h}{suffix}"
_CONTENT_KEY = re.compile(r"(^|/)sha256/([0-9a-f]{2})/\2[0-9a-f]{62}[^/]*$")
_SENTINEL_MTIME = 1_000_000_000  # 2001-09-09: never a real write time here
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def is_content_key(key: str) -> bool:
    """Whether ``key`` was made by :func:`~darkroom.storage.blobs.base.content_key` (immutable bytes)."""
    return _CONTENT_KEY.search(key) is not None


class BlobCache:
    """Files under ``root``, at most ``max_bytes`` in all; ``get_file`` is ``blobs.get_file`` with reuse."""

    def __init__(self, root: Path, max_bytes: int, *, on_use: Callable[[str, int], None] | None = None) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._on_use = on_use  # (result: "hit" | "miss" | "bypass", bytes)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"BlobCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    def get_file(self, blobs: BlobStore, key: str, dest: Path) -> Path:
        """The blob at ``key`` as the file ``dest`` (parents created), from the cache when it can."""
        dest = Path(dest)
        known: BlobInfo | None = None if is_content_key(key) else blobs.stat(key)
        if self.max_bytes <= 0 or (known is not None and known.size_bytes > self.max_bytes):
            return self._bypass(blobs, key, dest)
        name = _entry_name(key, known)
        entry = self.root / name[:2] / name
        try:
            with self._lock(name):
                if self._fresh(entry):
                    self._touch(entry)
                    linked = _link(entry, dest)
                    self._use("hit", linked.stat().st_size)
                    return linked
                size = self._fill(blobs, key, entry, known)
            if size is not None:  # else replaced mid-download, or larger than the cache: not kept
                linked = _link(entry, dest)
                self._use("miss", size)
                self._evict(keep=entry)
                return linked
        except FileNotFoundError:  # another worker process on this host evicted the entry meanwhile
            pass
        return self._bypass(blobs, key, dest)

    def size_bytes(self) -> int:
        return sum(size for _, _, size in self._entries())

    def _fill(self, blobs: BlobStore, key: str, entry: Path, known: BlobInfo | None) -> int | None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{uuid.uuid4().hex}.partial")
        try:
            blobs.get_file(key, tmp)
            size = tmp.stat().st_size
            if size > self.max_bytes or (known is not None and blobs.stat(key) != known):
                return None
            os.chmod(tmp, _READ_ONLY)
            os.utime(tmp, (time.time(), _SENTINEL_MTIME))
            tmp.replace(entry)
            return size
        finally:
            tmp.unlink(missing_ok=True)

    def _bypass(self, blobs: BlobStore, key: str, dest: Path) -> Path:
        path: Path = blobs.get_file(key, dest)
        self._use("bypass", path.stat().st_size)
        return path

    def _fresh(self, entry: Path) -> bool:
        try:
            st = entry.stat()
        except FileNotFoundError:
            return False
        if int(st.st_mtime) == _SENTINEL_MTIME:
            return True
        entry.unlink(missing_ok=True)  # written through a task's link: never serve it again
        return False

    @staticmethod
    def _touch(entry: Path) -> None:
        os.utime(entry, (time.time(), _SENTINEL_MTIME))

    def _entries(self) -> list[tuple[float, Path, int]]:
        found = []
        for path in self.root.glob("*/*"):
            if path.name.startswith("."):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            found.append((st.st_atime, path, st.st_size))
        return found

    def _evict(self, *, keep: Path) -> None:
        entries = sorted(self._entries())
        total = sum(size for _, _, size in entries)
        for _, path, size in entries:
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _use(self, result: str, size: int) -> None:
        if self._on_use is not None:
            self._on_use(result, size)


def _entry_name(key: str, known: BlobInfo | None) -> str:
    version = "" if known is None else f"|{known.size_bytes}|{known.etag}|{known.modified_at!r}"
    return hashlib.sha256(f"{key}{version}".encode()).hexdigest()


def _link(entry: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(entry, dest)
    except FileNotFoundError:
        raise
    except OSError:  # another filesystem, or links not supported: a copy it is
        shutil.copyfile(entry, dest)
    return dest
