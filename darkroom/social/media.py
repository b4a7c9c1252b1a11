"""Media messages from uploads, and where their renditions are fetched from.

An upload's ``info`` (written by renditions.py from its workflow's outputs) has the shape
``{"width", "height", "duration_s", "blurhash", "renditions": [{"key", "content_type", "width", "height",
"role", "tree", "path"}]}``; parts may be missing while it is processed, and a missing or odd value
reads as the default. A rendition's URL comes from a :class:`MediaUrls` the caller passes in: the
HTTP layer signs private accounts' URLs (they expire, so they are made per read and never cached).

Until then a rendition's ``url`` holds its **media reference**, the part of its URL after
``/v1/media/``: the blob key of a file served alone (a photo size, a poster), or, for a file of a
folder whose files name each other relatively (an HLS/DASH package, a storyboard), a
:func:`package_ref` ``pkg/{tree digest}/{path}``, under which every file of the folder is served so
a player resolving ``seg_00001.m4s`` against the playlist's URL lands on the package's segment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import quote

import orjson

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.runtime.files import tree_digest, tree_key
from darkroom.storage.blobs.base import validate_key
from darkroom.storage.errors import InvalidBlobKey

__all__ = [
    "PACKAGE_PREFIX",
    "PLAIN_URLS",
    "MediaUrls",
    "PackageFile",
    "PlainMediaUrls",
    "from_upload",
    "json_list",
    "json_object",
    "package_ref",
    "parse_package_ref",
    "sign",
]

PACKAGE_PREFIX = "pkg/"  # no blob key the media route serves starts so: renditions are ``cas/…``


class MediaUrls(Protocol):
    """Where a rendition is fetched from, by its media reference (``key``: a blob key or a
    :func:`package_ref`); ``private`` media needs a signed, expiring URL."""

    def url(self, key: str, *, private: bool) -> str: ...


@dataclass(frozen=True, slots=True)
class PackageFile:
    """File ``path`` of the folder stored as the tree whose manifest's SHA-256 is ``digest``."""

    digest: str
    path: str

    @property
    def tree_key(self) -> str:
        return tree_key(self.digest)

    @property
    def prefix(self) -> str:
        """The reference of the folder itself, which a signature covers: ``pkg/{digest}/``."""
        return f"{PACKAGE_PREFIX}{self.digest}/"

    def __str__(self) -> str:
        return self.prefix + self.path


def package_ref(tree: str, path: str) -> str:
    """The media reference of file ``path`` of the tree whose manifest is ``tree``:
    ``pkg/{manifest SHA-256}/{path}``; :class:`InvalidBlobKey` for a key that is not a tree's or a
    path that could leave the folder."""
    return str(PackageFile(tree_digest(tree), validate_key(path)))


def parse_package_ref(ref: str) -> PackageFile | None:
    """The package file ``ref`` names, or None when it is no :func:`package_ref` (a blob key, or a
    malformed reference: bad digest, a path with ``..`` or dot-names)."""
    if not ref.startswith(PACKAGE_PREFIX):
        return None
    digest, _, path = ref[len(PACKAGE_PREFIX) :].partition("/")
    try:
        tree_key(digest)
        validate_key(path)
    except InvalidBlobKey:
        return None
    return PackageFile(digest, path)


class PlainMediaUrls:
    """``/v1/media/{ref}`` for every rendition (tests, gRPC clients that fetch with a token)."""

    def url(self, key: str, *, private: bool) -> str:
        return "/v1/media/" + quote(key, safe="/")


PLAIN_URLS = PlainMediaUrls()


def from_upload(upload_id: str, kind: str | None, state: str, info: object) -> pb.Media:
    """A Media from an upload row. Each rendition's ``url`` holds its media reference until :func:`sign`."""
    facts = json_object(info)
    out = pb.Media(
        id=upload_id,
        kind=kind or "",
        state=state,
        width=_int(facts.get("width")),
        height=_int(facts.get("height")),
        duration_s=_float(facts.get("duration_s")),
        blurhash=_str(facts.get("blurhash")),
    )
    for item in json_list(facts.get("renditions")):
        r = json_object(item)
        out.renditions.add(
            url=_reference(r),
            content_type=_str(r.get("content_type")),
            width=_int(r.get("width")),
            height=_int(r.get("height")),
            role=_str(r.get("role")),
        )
    return out


def _reference(rendition: Mapping[str, object]) -> str:
    """A package file's reference when the rendition names its tree and path, else its blob key."""
    tree, path = rendition.get("tree"), rendition.get("path")
    if isinstance(tree, str) and isinstance(path, str):
        try:
            return package_ref(tree, path)
        except InvalidBlobKey:
            pass  # an odd value reads as the default: the file alone
    return _str(rendition.get("key"))


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def json_object(value: object) -> Mapping[str, object]:
    """A JSON object (parsed when it comes as text, as SQLite returns JSON), or {} for anything else."""
    if isinstance(value, str | bytes):
        value = orjson.loads(value)
    return cast(Mapping[str, object], value) if isinstance(value, Mapping) else {}


def json_list(value: object) -> list[object]:
    """A JSON array (parsed when it comes as text), or [] for anything else (SQL's NULL included)."""
    if isinstance(value, str | bytes):
        value = orjson.loads(value)
    return list(value) if isinstance(value, list) else []


def sign(medias: Iterable[pb.Media], urls: MediaUrls, *, private: bool) -> None:
    """Turn the media references in ``medias``' renditions into URLs (in place)."""
    for media in medias:
        for rendition in media.renditions:
            rendition.url = urls.url(rendition.url, private=private)
