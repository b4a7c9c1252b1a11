"""``GET /static/{digest}/{name}``: the pages' CSS and scripts (``assets.py``), cached for a year
(``immutable``: a new version has a new URL), never sniffed, gzip-compressed by the app when the
browser asks (``web/compression.py``). An unknown name or a digest that is not the file's
current one is a 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom.web.caching import PUBLIC_IMMUTABLE
from darkroom.web.pages.assets import PREFIX
from darkroom.web.pages.errors import UnknownAsset
from darkroom.web.pages.rendering import pages_of

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/{digest}/{name:path}")
async def static_file(request: Request, digest: str, name: str) -> Response:
    asset = pages_of(request).assets.find(digest, name)
    if asset is None:
        raise UnknownAsset(f"no static file {name!r} at version {digest!r}")
    headers = {"Cache-Control": str(PUBLIC_IMMUTABLE), "X-Content-Type-Options": "nosniff", "ETag": f'"{digest}"'}
    return Response(asset.body, media_type=asset.content_type, headers=headers)
