"""Lists whose domain function issues its own cursors (paging.py keysets, the feed's cursors):
the HTTP layer wraps each in the app's signed, list-bound cursor (``api.cursors``), so clients
see one kind of cursor, cannot forge or edit one, and a cursor of one list (``likes:<post>``,
``feed:<account>``…) is a 400 on any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response

from darkroom.api.cursors import CURSOR_FIELD, CursorCodec
from darkroom.api.errors import InvalidCursor
from darkroom.social.viewer import Viewer
from darkroom.web.pagination import PageRequest, page_response
from darkroom.web.representations import conditional, policy_for

__all__ = ["inner_cursor", "list_response", "outer_cursor"]

_KEY = "k"  # the domain's cursor inside the signed position


def inner_cursor(page: PageRequest, codec: CursorCodec, list_name: str) -> str | None:
    """The domain cursor the request's ``cursor`` carries for ``list_name`` (None: first page);
    :class:`InvalidCursor` for one this server did not issue for that list."""
    position = page.position(codec, list_name)
    if position is None:
        return None
    inner = position.get(_KEY)
    if not isinstance(inner, str) or not inner:
        raise InvalidCursor(f"cursor {page.cursor!r} holds no position of {list_name!r}", field=CURSOR_FIELD)
    return inner


def outer_cursor(codec: CursorCodec, inner: str | None, list_name: str) -> str | None:
    """The cursor clients get for the domain's ``inner`` cursor of ``list_name``."""
    return None if inner is None else codec.encode({_KEY: inner}, list_name=list_name)


def list_response(
    request: Request,
    items: Sequence[Mapping[str, Any]],
    next_cursor: str | None,
    *,
    viewer: Viewer | None,
    background: BackgroundTask | None = None,
) -> Response:
    """``{"items", "next_cursor"}`` with ``Link: rel="next"``, cached as ``viewer`` decides
    (representations.policy_for), tagged by its bytes, 304 on a matching ``If-None-Match``."""
    policy = policy_for(viewer)
    response = page_response(request, items, next_cursor, cache=policy)
    return conditional(request, response, policy=policy, background=background)
