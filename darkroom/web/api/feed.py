"""Reading posts in pages (docs/social.md, "Post and feed routes"): the home feed, an account's
posts, a hashtag's posts.

Each page is a list of ids from the domain (``feed.read_feed``, ``profiles.account_posts``,
``tags.tag_posts``) hydrated through the post cache (one MGET, at most two statements for 20
posts, viewer fields in one batch), in a read-only transaction: a GET never takes SQLite's write
lock. The feed's hourly ``accounts.last_seen_at`` is written afterwards, in a short transaction of
its own, only when the reader says it is due. Every post shown is one ``post.viewed`` impression,
published after the answer is sent (impressions.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.fieldmask import Mask
from darkroom.social import profiles, tags
from darkroom.social.accounts import touch_last_seen
from darkroom.social.feed import read_feed
from darkroom.social.handles import lookup_handle
from darkroom.social.impressions import Surface
from darkroom.storage.db import read_only
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import CONDITIONAL_RESPONSES
from darkroom.web.deps import Deps
from darkroom.web.fields import read_mask
from darkroom.web.listing import inner_cursor, list_response, outer_cursor
from darkroom.web.pagination import Page
from darkroom.web.post_pages import hydrate_page, views

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["reading"])
PostMask = Annotated[Mask, Depends(read_mask(Post.DESCRIPTOR))]


@router.get("/feed", responses=CONDITIONAL_RESPONSES, summary="The home feed, newest first")
def home_feed(request: Request, viewer: SignedIn, deps: Deps, page: Page, mask: PostMask) -> Response:
    list_name = f"feed:{viewer.account_id}"  # one account's feed cursors are no use on another's
    cursor = inner_cursor(page, deps.cursors, list_name)
    with read_only(deps.engine).begin() as conn:
        found = read_feed(conn, deps.redis, viewer.account_id, cursor=cursor, limit=page.limit)
        shown = hydrate_page(deps, conn, found.post_ids, viewer, mask)
    if found.last_seen_due:
        with deps.engine.begin() as conn:
            touch_last_seen(conn, viewer.account_id)
    return list_response(
        request,
        shown.items,
        outer_cursor(deps.cursors, found.next_cursor, list_name),
        viewer=viewer,
        background=views(deps, viewer, shown.post_ids, Surface.FEED),
    )


@router.get("/accounts/{handle}/posts", responses=CONDITIONAL_RESPONSES, summary="An account's posts, newest first")
def account_posts(
    request: Request, handle: str, *, viewer: CurrentViewer, deps: Deps, page: Page, mask: PostMask
) -> Response:
    list_name = f"posts:{lookup_handle(handle) or handle}"  # @Alice and @alice: one list
    cursor = inner_cursor(page, deps.cursors, list_name)
    with read_only(deps.engine).begin() as conn:
        found = profiles.account_posts(conn, viewer, handle, cursor, page.limit)
        shown = hydrate_page(deps, conn, found.items, viewer, mask)
    return list_response(
        request,
        shown.items,
        outer_cursor(deps.cursors, found.next_cursor, list_name),
        viewer=viewer,
        background=views(deps, viewer, shown.post_ids, Surface.PROFILE),
    )


@router.get("/tags/{tag}/posts", responses=CONDITIONAL_RESPONSES, summary="A hashtag's posts, newest first")
def tag_posts(request: Request, tag: str, *, viewer: CurrentViewer, deps: Deps, page: Page, mask: PostMask) -> Response:
    name = tags.normalize_tag(tag)
    list_name = f"tag:{name}"  # #Sun and sun: one list
    cursor = inner_cursor(page, deps.cursors, list_name)
    with read_only(deps.engine).begin() as conn:
        found = tags.tag_posts(conn, viewer, name, cursor, page.limit)
        shown = hydrate_page(deps, conn, found.items, viewer, mask)
    return list_response(
        request,
        shown.items,
        outer_cursor(deps.cursors, found.next_cursor, list_name),
        viewer=viewer,
        background=views(deps, viewer, shown.post_ids, Surface.TAG),
    )
