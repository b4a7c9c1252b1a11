"""HTTP caching for routes: ``Cache-Control`` policies, ETag + ``If-None-Match`` -> 304 on reads,
``If-Match`` -> 412 on writes (``api.etags`` holds the RFC 9110 rules).

A read route computes its representation's tag (``ETag.for_version(id, version, mask, …)``: every
input that changes the bytes), answers :func:`not_modified` when it is not None, else
:func:`json_response` with the same tag and policy. A write route calls :func:`check_if_match`
with the current full representation's tag before changing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response

from darkroom.api.etags import ETag, Precondition, evaluate
from darkroom.social.errors import PreconditionFailed
from darkroom.web.openapi import problem
from darkroom.web.responses import OrjsonResponse

__all__ = [
    "CONDITIONAL_RESPONSES",
    "NO_STORE",
    "PRIVATE_REVALIDATE",
    "PUBLIC_IMMUTABLE",
    "PUBLIC_REVALIDATE",
    "CachePolicy",
    "check_if_match",
    "json_response",
    "not_modified",
]


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """One ``Cache-Control`` value. ``private``: only the client's own cache (anything that
    depends on the viewer); ``no_cache``: may be stored but must be revalidated (with its ETag)
    before each use; ``no_store``: never stored (credentials); ``immutable``: never changes
    (content-addressed media)."""

    max_age_s: int | None = None
    public: bool = False
    private: bool = False
    no_cache: bool = False
    no_store: bool = False
    immutable: bool = False

    def __post_init__(self) -> None:
        if self.public and self.private:
            raise ValueError("a response is public or private, not both")
        if self.max_age_s is not None and self.max_age_s < 0:
            raise ValueError(f"max_age_s must be >= 0, not {self.max_age_s}")

    def __str__(self) -> str:
        parts = [
            name
            for name, on in (
                ("public", self.public),
                ("private", self.private),
                ("no-cache", self.no_cache),
                ("no-store", self.no_store),
            )
            if on
        ]
        if self.max_age_s is not None:
            parts.append(f"max-age={self.max_age_s}")
        if self.immutable:
            parts.append("immutable")
        return ", ".join(parts)


NO_STORE = CachePolicy(no_store=True)
# the viewer's own answers (a feed, a post with liked_by_me): kept by the client, revalidated each time
PRIVATE_REVALIDATE = CachePolicy(private=True, no_cache=True)
# what anyone may see, the same for everyone (a public profile without viewer fields)
PUBLIC_REVALIDATE = CachePolicy(public=True, no_cache=True)
# content-addressed bytes (renditions): the key changes when the bytes do
PUBLIC_IMMUTABLE = CachePolicy(public=True, max_age_s=31536000, immutable=True)

# for a route's ``responses=``: what conditional requests may answer
CONDITIONAL_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the If-None-Match tag is current"},
    412: problem("Precondition Failed: the If-Match tag is stale"),
}


def _headers(etag: ETag | None, cache: CachePolicy | None) -> dict[str, str]:
    headers = {}
    if etag is not None:
        headers["ETag"] = str(etag)
    if cache is not None:
        headers["Cache-Control"] = str(cache)
    return headers


def json_response(
    content: Any,
    *,
    status: int = 200,
    etag: ETag | None = None,
    cache: CachePolicy | None = None,
    headers: Mapping[str, str] | None = None,
) -> OrjsonResponse:
    """``content`` as JSON, with ``ETag`` and ``Cache-Control`` when given."""
    return OrjsonResponse(content, status_code=status, headers={**_headers(etag, cache), **(headers or {})})


def not_modified(request: Request, etag: ETag, *, cache: CachePolicy | None = None) -> Response | None:
    """For a read: the 304 to send when the request's ``If-None-Match`` names ``etag`` (with the
    ``ETag`` and ``Cache-Control`` a 200 would carry), else None. A failed ``If-Match`` raises
    :class:`PreconditionFailed` (412); a malformed header is 400."""
    outcome = evaluate(
        request.method,
        etag,
        if_match=request.headers.get("if-match"),
        if_none_match=request.headers.get("if-none-match"),
    )
    if outcome is Precondition.FAILED:
        raise PreconditionFailed(f"If-Match does not name the current version ({etag})", field="If-Match")
    if outcome is Precondition.NOT_MODIFIED:
        return Response(status_code=304, headers=_headers(etag, cache))
    return None


def check_if_match(request: Request, current: ETag | None) -> None:
    """For a write: :class:`PreconditionFailed` (412) when ``If-Match`` (or ``If-None-Match``)
    rules it out against the ``current`` tag (None: the resource does not exist)."""
    outcome = evaluate(
        request.method,
        current,
        if_match=request.headers.get("if-match"),
        if_none_match=request.headers.get("if-none-match"),
    )
    if outcome is not Precondition.PROCEED:
        now = f"the current version is {current}" if current is not None else "it does not exist"
        raise PreconditionFailed(
            f"If-Match {request.headers.get('if-match')!r} is stale: {now}; read it again and retry",
            field="If-Match",
        )
