"""Blobs in a local directory: ``root/<key>``, written via ``root/.tmp`` and renamed into place.

Several processes may share one root: every write goes to its own temp file on the same
filesystem, is fsynced, and appears with one ``os.replace`` (then the directory is fsynced), so a
reader sees the old blob or the new one, never a partial file.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import TYPE_CHECKING, BinaryIO

from darkroom.storage.blobs.base import (
    BlobInfo,
    BlobStore,
    _create_exclusive,
    _write_atomically,
    check_range,
    content_key,
    validate_key,
    validate_prefix,
)
from darkroom.storage.errors import BlobNotFound, StorageError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["LocalBlobs"]

_CHUNK_BYTES = 1 << 20
_COMMIT_ATTEMPTS = 10
_TMP_DIR = ".tmp"  # keys cannot start with '.', so this never collides with a blob


class LocalBlobs(BlobStore):
    """Blobs as files under ``root`` (created on first write). ``content_type`` is not kept."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self._tmp = self.root / _TMP_DIR

    def __repr__(self) -> str:
        return f"LocalBlobs({str(self.root)!r})"

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> BlobInfo:
        target = self._path(key)
        with Path(path).open("rb") as src:
            tmp, _ = self._spool(src, hashing=False)
        return self._commit(key, tmp, target)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> BlobInfo:
        target = self._path(key)
        tmp, _ = self._spool(io.BytesIO(data), hashing=False)
        return self._commit(key, tmp, target)

    def put_content(self, path: Path, *, prefix: str = "cas", suffix: str = "") -> BlobInfo:
        content_key("0" * 64, prefix=prefix, suffix=suffix)  # a bad prefix or suffix fails before the copy
        with Path(path).open("rb") as src:
            tmp, digest = self._spool(src, hashing=True)
        try:
            key = content_key(digest, prefix=prefix, suffix=suffix)
            try:
                info = self.stat(key)
            except BlobNotFound:
                return self._commit(key, tmp, self._path(key))
        finally:
            tmp.unlink(missing_ok=True)  # no-op after a commit (the rename consumed it)
        return info

    def get_file(self, key: str, dest: Path) -> Path:
        with self._open(key) as src:
            return _write_atomically(Path(dest), lambda tmp: _copy(src, tmp))

    def get_bytes(self, key: str) -> bytes:
        with self._open(key) as src:
            return src.read()

    def open(self, key: str) -> BinaryIO:
        return self._open(key)

    def open_range(self, key: str, start: int, length: int) -> BinaryIO:
        check_range(key, start, length)
        src = self._open(key)
        try:
            src.seek(start)
        except BaseException:
            src.close()
            raise
        return io.BufferedReader(_Window(src, length), buffer_size=min(max(length, 1), _CHUNK_BYTES))

    def stat(self, key: str) -> BlobInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._not_found(key) from None
        if not S_ISREG(st.st_mode):
            raise self._not_found(key)
        return BlobInfo(key, st.st_size, None, st.st_mtime)

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False
        self._prune(path.parent)
        return True

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        validate_prefix(prefix)
        head, _, partial = prefix.rpartition("/")
        start = self.root.joinpath(*head.split("/")) if head else self.root
        return self._walk(start, head + "/" if head else "", partial)

    def sweep_temp(self, *, older_than_s: float = 86400.0) -> int:
        """Remove temp files left by crashed writers (older than ``older_than_s``); returns how many."""
        cutoff = time.time() - older_than_s
        removed = 0
        try:
            entries = list(os.scandir(self._tmp))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _not_found(self, key: str) -> BlobNotFound:
        return BlobNotFound(f"no blob {key!r} in {self!r}")

    def _open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._not_found(key) from None

    def _spool(self, src: BinaryIO, *, hashing: bool) -> tuple[Path, str]:
        """Copy ``src`` into a new fsynced temp file, hashing on the way if asked (one pass)."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_exclusive(self._tmp, "")
        digest = hashlib.sha256() if hashing else None
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(_CHUNK_BYTES):
                    if digest is not None:
                        digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, digest.hexdigest() if digest is not None else ""

    def _commit(self, key: str, tmp: Path, target: Path) -> BlobInfo:
        """Rename the temp file onto ``target``; the temp file is gone afterwards, whatever happens."""
        try:
            st = tmp.stat()
            for attempt in range(_COMMIT_ATTEMPTS):
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, target)
                    break
                except IsADirectoryError as exc:
                    raise self._conflict(key, exc) from exc
                except (FileNotFoundError, FileExistsError, NotADirectoryError) as exc:
                    # Either a blob sits where a directory must be (a conflict), or a concurrent
                    # delete pruned an emptied parent between mkdir and rename (go again).
                    if self._blob_in_the_way(target):
                        raise self._conflict(key, exc) from exc
                    if attempt + 1 == _COMMIT_ATTEMPTS:
                        raise
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return BlobInfo(key, st.st_size, None, st.st_mtime)

    def _conflict(self, key: str, exc: OSError) -> StorageError:
        return StorageError(
            f"cannot store blob {key!r} in {self!r}: locally a key cannot be both a blob and a prefix "
            f"of other keys ({exc.strerror})"
        )

    def _blob_in_the_way(self, target: Path) -> bool:
        """Whether ``target`` is a directory or one of its parents a file (one lstat each: no race)."""
        path = target
        while path != self.root and self.root in path.parents:
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                mode = None
            if mode is not None and S_ISDIR(mode) == (path == target):
                return True
            path = path.parent
        return False

    def _prune(self, directory: Path) -> None:
        """Remove directories the delete left empty, up to the root (writers retry if they race this)."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def _walk(self, directory: Path | str, key_prefix: str, partial: str) -> Iterator[BlobInfo]:
        # Sorting a directory's entries by name, with '/' appended to subdirectories, and recursing
        # in that order yields keys in global (code point = UTF-8 byte) order without collecting them.
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        found: list[tuple[str, os.DirEntry[str], bool]] = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.startswith(partial):
                continue  # '.tmp' and other dot-names are never blobs
            try:
                if entry.is_dir():
                    found.append((entry.name + "/", entry, True))
                elif entry.is_file():
                    found.append((entry.name, entry, False))
            except OSError:
                continue
        found.sort(key=lambda item: item[0])
        for name, entry, is_dir in found:
            if is_dir:
                yield from self._walk(entry.path, key_prefix + name, "")
                continue
            key = key_prefix + name
            try:
                validate_key(key)
                st = entry.stat()
            except (BlobNotFound, FileNotFoundError, ValueError):
                continue  # deleted meanwhile, or a file no key can name
            yield BlobInfo(key, st.st_size, None, st.st_mtime)


class _Window(io.RawIOBase):
    """At most ``length`` bytes of an open file, from where it stands; closing closes the file."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self._file = file
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._file.read(min(len(view), self._left)) if self._left else b""
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def _copy(src: BinaryIO, dest: Path) -> None:
    with dest.open("wb") as out:
        shutil.copyfileobj(src, out, _CHUNK_BYTES)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
