"""The hashtag page, ``/tags/{tag}``: the tag, its count of posts, and a grid of the posts tagged
with it that the viewer may see, newest first (12 a page, "More posts" continues).

It reads as ``GET /v1/tags/{tag}/posts`` does: the tag through ``tags.normalize_tag`` (``#Sun``
and ``sun`` are one tag), the ids through ``tags.tag_posts`` (visibility is its SQL condition:
a private account's posts only for its followers, nothing of an account in a block with the
viewer), hydrated through the post cache, the API's signed cursor bound to ``tag:<name>``, one
``post.viewed`` per post shown on the ``tag`` surface. The count is ``tags.count_tag``'s, the
same number search shows. A tag no caption could hold (``/tags/a%20b``) is a 404 page naming it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom.social import postcache, tags
from darkroom.social.errors import InvalidInput, SocialError
from darkroom.social.impressions import Surface
from darkroom.storage.db import read_only
from darkroom.web.api.reads import domain_cursor, web_cursor
from darkroom.web.auth import CurrentViewer
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps
from darkroom.web.pages.captions import tag_path
from darkroom.web.pages.post_page import POST_FIELDS, refused
from darkroom.web.pages.post_views import post_view
from darkroom.web.pages.profile_page import GRID_SIZE, GRID_SIZES
from darkroom.web.pages.rendering import is_htmx, pages_of
from darkroom.web.pagination import PageRequest
from darkroom.web.post_pages import views

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _no_such_tag(request: Request, exc: InvalidInput) -> Response:
    """A tag no caption can hold: a 404 page (there is no such page), with the domain's message."""
    context = {"title": "No such hashtag", "message": str(exc)}
    return pages_of(request).render(request, "error.html", context, status=404, cache=NO_STORE)


@router.get("/tags/{tag:path}")  # a "/" in it too: a 404 page naming the tag
def tag_page(request: Request, tag: str, deps: Deps, viewer: CurrentViewer, cursor: str | None = None) -> Response:
    """The tag and a page of its posts (htmx with ``cursor``: the next page of the grid alone)."""
    try:
        name = tags.normalize_tag(tag)
    except InvalidInput as exc:
        return _no_such_tag(request, exc)
    list_name = f"tag:{name}"  # the API's list: its cursors and these are one kind
    fragment = is_htmx(request) and bool(cursor)
    try:
        inner = domain_cursor(deps, PageRequest(GRID_SIZE, cursor or None), list_name)
        with read_only(deps.engine).begin() as conn:
            found = tags.tag_posts(conn, viewer, name, inner, GRID_SIZE)
            posts = postcache.hydrate(conn, deps.redis, found.items, viewer, POST_FIELDS, urls=deps.media_urls)
            counted = None if fragment else tags.count_tag(conn, name)
    except SocialError as exc:
        return refused(request, exc)
    views(deps, viewer, [p.id for p in posts], Surface.TAG)
    following = web_cursor(deps, found.next_cursor, list_name)
    href = tag_path(name)
    context = {
        "posts": [post_view(p) for p in posts],
        "sizes": GRID_SIZES,
        "next_href": None if following is None else f"{href}?{urlencode({'cursor': following})}",
        "continued": cursor is not None,
    }
    pages = pages_of(request)
    if counted is None:
        return pages.render(request, "_grid_page.html", context)
    return pages.render(request, "tag.html", context | {"tag": name, "post_count": counted.post_count})
