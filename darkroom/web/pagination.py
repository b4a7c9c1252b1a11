"""Cursor-paged lists: ``limit`` (default 20, at most 100: more is a 400 naming the value) and
``cursor`` in, ``{"items": […], "next_cursor": …}`` and ``Link: <…>; rel="next"`` out.

Cursors are ``api.cursors`` tokens signed with the app's secret and bound to one list; a route
reads its position with :meth:`PageRequest.position` and issues the next with
``deps.cursors.encode(position, list_name=…)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from darkroom.api.cursors import CursorCodec
from darkroom.web.caching import CachePolicy, json_response
from darkroom.web.responses import OrjsonResponse

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "PageRequest", "page_request", "page_response"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def position(self, codec: CursorCodec, list_name: str) -> dict[str, Any] | None:
        """Where the page starts (None: the first page); :class:`InvalidCursor` for a cursor that
        is not this server's for ``list_name``."""
        return None if self.cursor is None else codec.decode(self.cursor, list_name=list_name)


async def page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(description="where to continue: the previous page's next_cursor (opaque)")
    ] = None,
) -> PageRequest:
    """The paging parameters of a list route (a FastAPI dependency; ``async``: no I/O, no worker thread)."""
    return PageRequest(limit, cursor or None)


Page = Annotated[PageRequest, Depends(page_request)]


def page_response(
    request: Request,
    items: Sequence[Mapping[str, Any]],
    next_cursor: str | None,
    *,
    cache: CachePolicy | None = None,
) -> OrjsonResponse:
    """``{"items": items, "next_cursor": next_cursor}``, with a ``Link`` to the next page when there is one."""
    headers = {}
    if next_cursor is not None:
        headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
    return json_response({"items": list(items), "next_cursor": next_cursor}, cache=cache, headers=headers)
