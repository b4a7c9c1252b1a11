"""``GET /v1/accounts/me/export``: the signed-in account's data as a zip (profile, posts, comments,
likes, followers and following as JSON, and the original media; :mod:`darkroom.social.export`).

The zip is written first, into a spooled temporary file (memory up to 8 MiB, then disk), in a
read-only transaction, so the answer has a ``Content-Length`` and a failure is a proper error
rather than a cut-off download; it is then sent in 1 MiB pieces and the file removed. The web
page ``/settings/export`` answers the same way (:func:`export_response`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import IO

from fastapi import APIRouter
from starlette.responses import Response, StreamingResponse

from darkroom.social.export import export_file, export_filename
from darkroom.social.viewer import Viewer
from darkroom.storage.db import snapshot
from darkroom.web.auth import SignedIn
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps, WebDeps

__all__ = ["ZIP_TYPE", "export_response", "router"]

router = APIRouter(prefix="/v1/accounts/me", tags=["accounts"])
ZIP_TYPE = "application/zip"
_CHUNK_BYTES = 1 << 20


def _pieces(file: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := file.read(_CHUNK_BYTES):
            yield chunk
    finally:
        file.close()


def export_response(deps: WebDeps, viewer: Viewer) -> Response:
    """The viewer's export as a download (``Content-Disposition: attachment``, ``no-store``)."""
    with snapshot(deps.engine).begin() as conn:  # one state of the data, rows streamed
        file, _ = export_file(conn, deps.blobs, viewer, spool_dir=deps.spool_dir)
    size = file.seek(0, 2)
    file.seek(0)
    headers = {
        "Content-Disposition": f'attachment; filename="{export_filename(viewer.handle, time.time())}"',
        "Content-Length": str(size),
        "Cache-Control": str(NO_STORE),
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(_pieces(file), media_type=ZIP_TYPE, headers=headers)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "a zip of the account's data",
            "content": {ZIP_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def export_me(deps: Deps, viewer: SignedIn) -> Response:
    """Everything of the signed-in account as a zip: ``manifest.json``, ``profile.json``,
    ``posts.json``, ``comments.json``, ``likes.json``, ``followers.json``, ``following.json`` and
    ``media/`` (the files as uploaded). docs/api.md, "Taking your data"."""
    return export_response(deps, viewer)
