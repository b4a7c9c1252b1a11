"""The blob store interface, key rules and content addressing, shared by every backend."""

from __future__ import annotations

import abc
import os
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from darkroom.storage.errors import BlobNotFound, InvalidBlobKey, InvalidByteRange

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_BYTES",
    "BlobInfo",
    "BlobStore",
    "check_range",
    "content_key",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_BYTES = 1024  # S3's limit, so a key valid here is valid on every backend
MAX_SEGMENT_BYTES = 255  # a path component on common filesystems
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class BlobInfo:
    """What a store knows about one blob. ``etag`` is opaque (S3's ETag; ``None`` locally)."""

    key: str
    size_bytes: int
    etag: str | None = None
    modified_at: float | None = None  # epoch seconds


class BlobStore(abc.ABC):
    """Bytes under ``/``-separated keys. Writes are atomic: readers see the old blob or the new one."""

    @abc.abstractmethod
    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> BlobInfo:
        """Store the file at ``path`` under ``key`` (replacing any blob there)."""

    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> BlobInfo:
        """Store ``data`` under ``key`` (replacing any blob there)."""

    @abc.abstractmethod
    def put_content(self, path: Path, *, prefix: str = "cas", suffix: str = "") -> BlobInfo:
        """Store the file under :func:`content_key` of its SHA-256; no upload if that key exists."""

    @abc.abstractmethod
    def get_file(self, key: str, dest: Path) -> Path:
        """Download to ``dest`` (parents created, replaced atomically) and return ``dest``."""

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole blob in memory (small blobs only)."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A streaming reader; the caller closes it."""

    @abc.abstractmethod
    def open_range(self, key: str, start: int, length: int) -> BinaryIO:
        """A streaming reader of ``length`` bytes from offset ``start`` (fewer where the blob ends,
        none from past its end) that fetches only those bytes; the caller closes it. A negative
        ``start`` or ``length`` is :class:`InvalidByteRange`."""

    @abc.abstractmethod
    def stat(self, key: str) -> BlobInfo:
        """Size and version of a blob, or :class:`BlobNotFound`."""

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the blob; True if it existed."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob whose key starts with ``prefix`` (a plain string prefix), sorted by key."""

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except BlobNotFound:
            return False
        return True


def validate_key(key: str) -> str:
    """``key`` if it is a safe relative ``/``-separated key, else :class:`InvalidBlobKey` naming it.

    Rules: non-empty, at most 1024 UTF-8 bytes, no leading, trailing or doubled ``/``, no ``\\``,
    no control characters, no segment longer than 255 bytes, and no segment starting with ``.``
    (this rules out ``.`` and ``..`` and reserves dot-names for the stores' own files).
    """
    problem = _key_problem(key)
    if problem:
        raise InvalidBlobKey(f"invalid blob key {_show(key)}: {problem}")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key, or a key followed by ``/``."""
    if prefix == "":
        return prefix
    problem = _key_problem(prefix[:-1] if prefix.endswith("/") else prefix)
    if problem:
        raise InvalidBlobKey(f"invalid blob key prefix {_show(prefix)}: {problem}")
    return prefix


def content_key(sha256_hex: str, *, prefix: str = "cas", suffix: str = "") -> str:
    """``{prefix}/sha256/{h[:2]}/{h}{suffix}``: the key of content with that SHA-256 digest."""
    if len(sha256_hex) != 64 or not _HEX.issuperset(sha256_hex):
        raise InvalidBlobKey(f"not a lowercase hex SHA-256 digest: {sha256_hex!r}")
    if "/" in suffix:
        raise InvalidBlobKey(f"invalid content key suffix {suffix!r}: it must not contain '/'")
    if prefix:
        validate_prefix(prefix)
    head = prefix.rstrip("/") + "/" if prefix else ""
    return validate_key(f"{head}sha256/{sha256_hex[:2]}/{sha256_hex}{suffix}")


def check_range(key: str, start: int, length: int) -> None:
    """:class:`InvalidByteRange` naming ``start`` and ``length`` unless both are whole and >= 0."""
    for value in (start, length):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidByteRange(f"byte range of {_show(key)}: start={start!r}, length={length!r} (need ints >= 0)")


def _write_atomically(dest: Path, fill: Callable[[Path], None]) -> Path:
    """Create ``dest`` from ``fill(temp)``, a temp file next to it, then rename it into place.

    Readers of ``dest`` never see a partial file; on failure the temp file is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_exclusive(dest.parent, f".{dest.name[:100]}.")
    os.close(fd)
    try:
        fill(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _create_exclusive(directory: Path, stem: str) -> tuple[int, Path]:
    """A new, empty file with a random name (mode 0666 less the umask, unlike ``mkstemp``)."""
    while True:
        path = directory / f"{stem}{uuid.uuid4().hex}.part"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), path
        except FileExistsError:  # pragma: no cover - 122 random bits
            continue


def _key_problem(key: object) -> str:
    if not isinstance(key, str):
        return f"a key is a str, not {type(key).__name__}"
    if not key:
        return "it is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid Unicode"
    if size > MAX_KEY_BYTES:
        return f"it is {size} bytes long (at most {MAX_KEY_BYTES})"
    if "\\" in key:
        return "it contains a backslash"
    if any(unicodedata.category(c) == "Cc" for c in key):
        return "it contains a control character"
    if key.startswith("/"):
        return "it is absolute (starts with '/')"
    for segment in key.split("/"):
        if not segment:
            return "it has an empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"it has a {segment!r} segment"
        if segment.startswith("."):
            return f"segment {segment!r} starts with '.' (reserved)"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"a segment is longer than {MAX_SEGMENT_BYTES} bytes"
    return ""


def _show(key: object) -> str:
    text = repr(key)
    return text if len(text) <= 200 else text[:200] + "..."
