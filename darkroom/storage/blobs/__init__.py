"""Media blob storage: one small interface, a local-directory store (default) and an S3 store.

``open_blobs(url)`` picks the implementation from configuration; the rest of the code only sees
:class:`BlobStore`. Key rules, atomicity and content addressing are described in ``docs/storage.md``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from darkroom.home import private_home
from darkroom.storage.blobs.base import (
    MAX_KEY_BYTES,
    MAX_SEGMENT_BYTES,
    BlobInfo,
    BlobStore,
    content_key,
    validate_key,
    validate_prefix,
)
from darkroom.storage.blobs.local import LocalBlobs
from darkroom.storage.blobs.s3 import S3Blobs, make_s3_client
from darkroom.storage.errors import BlobNotFound, InvalidBlobKey, InvalidStorageUrl, StorageError

if TYPE_CHECKING:
    from darkroom.config import Settings

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_BYTES",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "InvalidBlobKey",
    "InvalidStorageUrl",
    "LocalBlobs",
    "S3Blobs",
    "StorageError",
    "blobs_from_settings",
    "content_key",
    "make_s3_client",
    "open_blobs",
    "validate_key",
    "validate_prefix",
]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def open_blobs(url: str, *, home: Path = Path(".darkroom"), endpoint_url: str = "") -> BlobStore:
    """The store a blobs URL names.

    ``""`` is the directory ``home/blobs``; a path or ``file:///abs/path`` is that directory;
    ``s3://bucket[/prefix]`` is S3 (or an S3-compatible store at ``endpoint_url``). Anything else
    is :class:`InvalidStorageUrl`.
    """
    if endpoint_url:
        endpoint = urlsplit(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            raise InvalidStorageUrl(f"S3 endpoint URL {_redact(endpoint_url)!r} is not an http(s)://host URL")
    if not url:
        return LocalBlobs(private_home(Path(home)) / "blobs")  # private media: the home is 0700
    if not _SCHEME.match(url):
        return LocalBlobs(Path(url).expanduser())
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.query or parts.fragment:
            raise InvalidStorageUrl(f"blobs URL {_redact(url)!r}: expected file:///absolute/path")
        return LocalBlobs(Path(unquote(parts.path)))
    if scheme == "s3":
        if not _BUCKET.fullmatch(parts.netloc) or parts.query or parts.fragment or "?" in url or "#" in url:
            raise InvalidStorageUrl(
                f"blobs URL {_redact(url)!r}: expected s3://bucket[/prefix] with a valid bucket name"
            )
        prefix = parts.path[1:] if parts.path.startswith("/") else parts.path
        prefix = prefix.removesuffix("/")
        if prefix:
            try:
                validate_key(prefix)
            except InvalidBlobKey as exc:
                raise InvalidStorageUrl(f"blobs URL {_redact(url)!r}: bad prefix ({exc})") from None
        return S3Blobs(parts.netloc, prefix, endpoint_url=endpoint_url)
    raise InvalidStorageUrl(f"blobs URL {_redact(url)!r}: expected a path, file:///path or s3://bucket[/prefix]")


def blobs_from_settings(settings: Settings) -> BlobStore:
    """The store configured by ``DARKROOM_BLOBS_URL``, ``DARKROOM_S3_ENDPOINT_URL`` and ``DARKROOM_HOME``."""
    return open_blobs(settings.blobs_url, home=settings.home, endpoint_url=settings.s3_endpoint_url)


def _redact(url: str) -> str:
    """The URL without any ``user:password@`` part (messages must not leak secrets)."""
    return re.sub(r"//[^/@]*@", "//***@", url)
