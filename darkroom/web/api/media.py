"""``GET /v1/media/…``: renditions and streaming packages from the blob store (docs/social.md,
"Upload and media routes").

- **What.** ``/v1/media/{key}``: a file served alone (a photo size, a poster). ``/v1/media/pkg/
  {digest}/{path}``: file ``path`` of a package (an HLS/DASH folder, a storyboard), stored as the
  tree whose manifest's SHA-256 is ``digest``, so the relative URIs inside its playlists resolve to
  its other files; ``/v1/media/signed/{exp}/{sig}/pkg/{digest}/{path}`` is the same, signed.
- **Who may fetch.** An unsigned request serves a key only when it is public
  (:func:`darkroom.social.media_access.is_public`: a rendition of a ready post of a public
  account, or an avatar; one indexed query), and a package's file only when the package's manifest
  key is; anything else, a source file, a segment asked for by its own key, a path the manifest
  does not list, a key of nothing at all, answers 404 like a missing file, so private keys cannot
  be probed. A signed request (``?exp=…&sig=…`` over the key, or in the path over the package's
  prefix, from :class:`~darkroom.web.media_urls.SignedMediaUrls`) needs no query: a wrong or
  expired signature is 403, and the answer is ``Cache-Control: private`` until it expires.
- **Caching.** Content-addressed keys (``…/sha256/ab/ab…``) and package files (the digest covers
  every file) never change: ``public, max-age=31536000, immutable``. The ``ETag`` is the stored
  blob's (strong); ``If-None-Match`` answers 304.
- **Ranges.** ``Accept-Ranges: bytes``; one range per request (:mod:`darkroom.web.ranges`):
  206 with ``Content-Range``, 416 past the end, read with the store's ranged read (on S3 a ranged
  GetObject: nothing before the range is fetched). Media is never compressed (``create_app``
  leaves this route out of gzip), so offsets address the stored bytes.
- The type comes from the key's (the package path's) suffix, with ``nosniff``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse

from darkroom.api.etags import ETag
from darkroom.social.errors import NotFound
from darkroom.social.media import PACKAGE_PREFIX, parse_package_ref
from darkroom.social.media_access import is_public
from darkroom.storage.blobs import BlobNotFound
from darkroom.storage.blobs.base import validate_key
from darkroom.storage.db import read_only
from darkroom.storage.errors import InvalidBlobKey
from darkroom.web.caching import PUBLIC_IMMUTABLE, PUBLIC_REVALIDATE, CachePolicy, not_modified
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.media_urls import SIGNED
from darkroom.web.openapi import problem
from darkroom.web.ranges import ByteRange, Unsatisfiable, requested_range

__all__ = ["CONTENT_TYPES", "content_type_of", "router"]

router = APIRouter(prefix="/v1/media", tags=["media"])

_PIECE_BYTES = 256 << 10
_CONTENT_ADDRESSED = re.compile(r"(?:.+/)?sha256/([0-9a-f]{2})/\1[0-9a-f]{62}(?:\.[A-Za-z0-9]+)?")
CONTENT_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".avif": "image/avif", ".gif": "image/gif", ".heic": "image/heic",
    ".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment", ".mp4": "video/mp4", ".m4a": "audio/mp4", ".ts": "video/mp2t",
    ".webm": "video/webm", ".vtt": "text/vtt", ".json": "application/json",
}  # fmt: skip
_PLAIN = "application/octet-stream"

# renditions keep their file's type (CONTENT_TYPES): images, video, playlists, segments, WebVTT
_KINDS = ("image/*", "video/*", "application/*", "text/*")
_BYTES = {kind: {"schema": {"type": "string", "format": "binary"}} for kind in _KINDS}
_MEDIA_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "the whole file", "content": _BYTES},
    206: {"description": "the requested byte range (`Content-Range`)", "content": _BYTES},
    304: {"description": "Not Modified: the If-None-Match tag is current"},
    403: problem("a signed URL whose signature is wrong or expired"),
    404: problem("no such media, or media this request may not see unsigned"),
    416: problem("the range starts past the end (`Content-Range: bytes */size`)"),
}

_Exp = Annotated[str | None, Query(description="signed URLs: when the URL expires (epoch seconds)")]
_Sig = Annotated[str | None, Query(description="signed URLs: the signature of the key and exp")]
_PKG = PACKAGE_PREFIX.rstrip("/")
_PACKAGE = f"/{_PKG}/{{digest}}/{{path:path}}"
_SIGNED_PACKAGE = f"/{SIGNED}/{{exp}}/{{sig}}/{_PKG}/{{digest}}/{{path:path}}"


def content_type_of(key: str) -> str:
    """The media type of a stored rendition, by its key's suffix."""
    dot = key.rfind(".")
    return CONTENT_TYPES.get(key[dot:].lower(), _PLAIN) if dot > key.rfind("/") else _PLAIN


def _missing(key: str) -> NotFound:
    return NotFound(f"no media {key[:200]!r}", field="key")


def _policy(deps: WebDeps, key: str, exp: str | None, sig: str | None) -> CachePolicy:
    """Whether this request may fetch ``key``, as the Cache-Control its answer carries."""
    try:
        validate_key(key)
    except InvalidBlobKey:
        raise _missing(key) from None
    if exp is not None or sig is not None:
        return _signed_until(deps.media_urls.check(key, exp, sig))
    with read_only(deps.engine).begin() as conn:
        if not is_public(conn, key):
            raise _missing(key)
    return PUBLIC_IMMUTABLE if _CONTENT_ADDRESSED.fullmatch(key) else PUBLIC_REVALIDATE


def _signed_until(expires_at: int) -> CachePolicy:
    return CachePolicy(private=True, max_age_s=max(0, int(expires_at - time.time())))


def _package_file(deps: WebDeps, digest: str, path: str, signed: tuple[str, str] | None) -> tuple[str, CachePolicy]:
    """The blob behind ``pkg/{digest}/{path}`` and the Cache-Control of its answer, if this request
    may fetch it: signed (``(exp, sig)``) or the package is public, and the path is in it."""
    shown = f"{PACKAGE_PREFIX}{digest}/{path}"
    package = parse_package_ref(shown)
    if package is None:
        raise _missing(shown)
    if signed is not None:
        cache = _signed_until(deps.media_urls.check_package(package, *signed))
    else:
        with read_only(deps.engine).begin() as conn:
            if not is_public(conn, package.tree_key):
                raise _missing(shown)
        cache = PUBLIC_IMMUTABLE  # the digest covers every file of the package
    entry = deps.packages.member(package)
    if entry is None:
        raise _missing(shown)
    return entry.key, cache


def _pieces(blob: BinaryIO, length: int) -> Iterator[bytes]:
    with blob:
        left = length
        while left > 0 and (chunk := blob.read(min(left, _PIECE_BYTES))):
            left -= len(chunk)
            yield chunk


def _serve(request: Request, deps: WebDeps, key: str, cache: CachePolicy, content_type: str) -> Response:
    try:
        size = deps.blobs.stat(key).size_bytes
    except BlobNotFound:
        raise _missing(key) from None
    tag = ETag.for_version("media", key, size)
    hit = not_modified(request, tag, cache=cache)
    if hit is not None:
        return hit
    headers = {
        "ETag": str(tag),
        "Cache-Control": str(cache),
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    wanted = requested_range(request.headers.get("range"), size, etag=tag, if_range=request.headers.get("if-range"))
    if isinstance(wanted, Unsatisfiable):
        raise HTTPException(
            416,
            f"the range {request.headers.get('range')!r} starts past the end of {key!r} ({size} bytes)",
            headers={**headers, "Content-Range": wanted.content_range()},
        )
    start, length, status = 0, size, 200
    if isinstance(wanted, ByteRange):
        start, length, status = wanted.start, wanted.length, 206
        headers["Content-Range"] = wanted.content_range()
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=content_type)
    try:
        blob = deps.blobs.open_range(key, start, length)
    except BlobNotFound:
        raise _missing(key) from None
    return StreamingResponse(_pieces(blob, length), status_code=status, headers=headers, media_type=content_type)


# The package routes come first: the catch-all ``/{key:path}`` below would take their paths too.
@router.get(_PACKAGE, responses=_MEDIA_RESPONSES, response_class=Response)
@router.head(_PACKAGE, responses=_MEDIA_RESPONSES, response_class=Response)
def get_package_file(request: Request, digest: str, path: str, deps: Deps) -> Response:
    """A file of a public post's package (playlist, init or media segment, storyboard) by its path."""
    key, cache = _package_file(deps, digest, path, None)
    return _serve(request, deps, key, cache, content_type_of(path))


@router.get(_SIGNED_PACKAGE, responses=_MEDIA_RESPONSES, response_class=Response)
@router.head(_SIGNED_PACKAGE, responses=_MEDIA_RESPONSES, response_class=Response)
def get_signed_package_file(request: Request, deps: Deps, *, exp: str, sig: str, digest: str, path: str) -> Response:
    """A file of a package by a URL signed for the package's folder (private accounts' media)."""
    key, cache = _package_file(deps, digest, path, (exp, sig))
    return _serve(request, deps, key, cache, content_type_of(path))


@router.get("/{key:path}", responses=_MEDIA_RESPONSES, response_class=Response)
def get_media(request: Request, key: str, deps: Deps, exp: _Exp = None, sig: _Sig = None) -> Response:
    """A rendition's bytes (all, or one ``Range``); private media only by its signed URL."""
    return _serve(request, deps, key, _policy(deps, key, exp, sig), content_type_of(key))


@router.head("/{key:path}", responses=_MEDIA_RESPONSES, response_class=Response)
def head_media(request: Request, key: str, deps: Deps, exp: _Exp = None, sig: _Sig = None) -> Response:
    """The headers ``GET`` would answer (size, type, ``ETag``, ranges), no body."""
    return _serve(request, deps, key, _policy(deps, key, exp, sig), content_type_of(key))
