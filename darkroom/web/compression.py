"""gzip for the HTTP app's answers, with validators that tell the coded bytes from the plain ones.

JSON and text of :data:`GZIP_MINIMUM_BYTES` and more are compressed for a client that asks
(``Accept-Encoding: gzip``); media never (:data:`GZIP_EXCLUDED_CONTENT_TYPES`, and nothing under
:data:`UNCOMPRESSED_PATHS`, so Range offsets, ``Content-Length`` and the ETag address the stored
bytes), nor a 206.

RFC 9110 (8.8.3) wants a strong ETag to differ between content codings, so a compressed answer's
strong tag gets the coding as a suffix inside the quotes, as Apache's mod_deflate does:
``"3-abc"`` becomes ``"3-abc-gzip"`` (a weak tag stays as it is: weak tags may be shared by
codings). A weak tag instead (nginx's way) would break ``If-Match``, which compares strongly. The
routes never see the suffix: it is taken off every tag of ``If-Match`` and ``If-None-Match`` before
them, so

- a revalidation with the tag a gzip client holds matches (304), and the 304 carries the tag that
  client holds (a cache selects the stored answer to refresh by it, RFC 9111 4.3.4);
- a write's ``If-Match`` with that tag names the version it was read at, as the plain tag does
  (``PATCH`` succeeds while it is current, 412 once stale).

Every answer that could be compressed says ``Vary: Accept-Encoding``, 304s included.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from darkroom.api.errors import InvalidPrecondition
from darkroom.api.etags import ETag, parse

__all__ = [
    "CODING",
    "GZIP_EXCLUDED_CONTENT_TYPES",
    "GZIP_MINIMUM_BYTES",
    "UNCOMPRESSED_PATHS",
    "Compression",
    "coded",
    "uncoded",
]

CODING = "gzip"
GZIP_MINIMUM_BYTES = 1024
# Starlette's defaults leave out video/*, audio/* and the common image types; every image/* is
# added (HEIC, TIFF, SVG renditions are media too) so no media is ever compressed again.
GZIP_EXCLUDED_CONTENT_TYPES = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "image/*")
# level 9 (Starlette's default) costs about twice the CPU of 6 for a few percent on JSON
_GZIP_LEVEL = 6
# never compressed, whatever the type: media (a playlist too), so Range offsets, Content-Length and
# the ETag all address the stored bytes
UNCOMPRESSED_PATHS = ("/v1/media/",)
_SUFFIX = f"-{CODING}"
_CONDITIONS = (b"if-match", b"if-none-match")


def coded(tag: ETag) -> ETag:
    """The tag of ``tag``'s representation compressed: a strong one gains the suffix ``-gzip``."""
    return tag if tag.weak else ETag(tag.opaque + _SUFFIX)


def uncoded(tag: ETag) -> ETag:
    """``tag`` without the coding suffix :func:`coded` gave it (any other tag as it is)."""
    return ETag(tag.opaque.removesuffix(_SUFFIX), weak=tag.weak) if tag.opaque.endswith(_SUFFIX) else tag


def _uncoded_header(value: str, name: str) -> str:
    """A conditional header's value with every tag :func:`uncoded`; a malformed one as it came,
    so the route's 400 names what the client sent."""
    try:
        wanted = parse(value, header=name)
    except InvalidPrecondition:
        return value
    if wanted.any or not any(tag.opaque.endswith(_SUFFIX) for tag in wanted.tags):
        return value
    return ", ".join(str(uncoded(tag)) for tag in wanted.tags)


def _held_coded(if_none_match: str | None) -> frozenset[ETag]:
    """The coded tags a client says it holds (``If-None-Match``)."""
    if if_none_match is None:
        return frozenset()
    try:
        wanted = parse(if_none_match)
    except InvalidPrecondition:
        return frozenset()
    return frozenset(tag for tag in wanted.tags if not tag.weak and tag.opaque.endswith(_SUFFIX))


def _excluded(content_type: str) -> bool:
    """Whether answers of ``content_type`` are never compressed (media; Starlette's rule)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return not {media_type, media_type.partition("/")[0] + "/*"}.isdisjoint(GZIP_EXCLUDED_CONTENT_TYPES)


class Compression:
    """Starlette's :class:`GZipMiddleware` for every path but :data:`UNCOMPRESSED_PATHS`, with
    coded ETags (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(
            app,
            minimum_size=GZIP_MINIMUM_BYTES,
            compresslevel=_GZIP_LEVEL,
            exclude_content_types=GZIP_EXCLUDED_CONTENT_TYPES,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(UNCOMPRESSED_PATHS):
            await self.app(scope, receive, send)
            return
        held = _held_coded(Headers(scope=scope).get("if-none-match"))
        plain = _without_codings(scope["headers"])
        if plain != scope["headers"]:
            scope = {**scope, "headers": plain}

        async def send_coded(message: Message) -> None:
            if message["type"] == "http.response.start":
                _label(message, held)
            await send(message)

        await self.gzip(scope, receive, send_coded)


def _without_codings(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request's headers with :func:`_uncoded_header` applied to the conditional ones."""
    out = []
    for name, value in raw:
        if name.lower() in _CONDITIONS:
            header = "If-Match" if name.lower() == b"if-match" else "If-None-Match"
            out.append((name, _uncoded_header(value.decode("latin-1"), header).encode("latin-1")))
        else:
            out.append((name, value))
    return out


def _label(message: Message, held: frozenset[ETag]) -> None:
    """The answer's ETag coded when its bytes are (or, on a 304, when the client holds the coded
    copy), and ``Vary: Accept-Encoding`` when it could have been compressed."""
    message.setdefault("headers", [])
    headers = MutableHeaders(scope=message)
    status = message["status"]
    if status == 206 or _excluded(headers.get("content-type", "")):
        return
    raw_tag = headers.get("etag")
    if raw_tag is not None:
        try:
            (tag,) = parse(raw_tag, header="ETag").tags
        except (InvalidPrecondition, ValueError):  # not one entity tag: not ours to rewrite
            tag = None
        if tag is not None and not tag.weak:
            compressed = headers.get("content-encoding", "").strip().lower() == CODING
            if compressed or (status == 304 and coded(tag) in held):
                headers["ETag"] = str(coded(tag))
    vary = {v.strip().lower() for value in headers.getlist("vary") for v in value.split(",")}
    if "accept-encoding" not in vary and "*" not in vary:
        headers.add_vary_header("Accept-Encoding")
