"""Reading posts in pages (docs/social.md, "Post and feed routes"): the home feed, an account's
posts, a hashtag's posts.

Each page is a list of ids from the domain (``feed.read_feed``, ``profiles.list_account_posts``,
``tags.tag_posts``) hydrated through the post cache (one MGET, at most two statements for 20
posts, viewer fields in one batch; for the feed the hydration is also its visibility check),
in a read-only transaction: a GET never takes SQLite's write
lock (``accounts.last_seen_at`` is noted by the authenticator, ``credentials.note_use``, not by the
feed read). Every post shown is one ``post.viewed`` impression,
published off the request path (impressions.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.fieldmask import Mask
from darkroom.social import profiles, tags
from darkroom.social.feed import read_feed
from darkroom.social.handles import lookup_handle
from darkroom.social.impressions import Surface
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.api.reads import answer_page, cache_for, domain_cursor, web_cursor
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import CONDITIONAL_RESPONSES
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.fields import read_mask
from darkroom.web.openapi import page
from darkroom.web.pagination import Page
from darkroom.web.post_pages import PageHydrator, ShownPosts, hydrate_page, views

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["reading"])
PostMask = Annotated[Mask, Depends(read_mask(Post.DESCRIPTOR))]
_POSTS = page(Post.DESCRIPTOR, "a page of posts (proto3 JSON; `fields=` applies to each)")


def _answer(
    request: Request,
    deps: WebDeps,
    viewer: Viewer | None,
    shown: ShownPosts,
    *,
    next_cursor: str | None,
    surface: Surface,
) -> Response:
    """The page, and its impressions (a 304 too: the client shows the posts again)."""
    views(deps, viewer, shown.post_ids, surface)
    return answer_page(request, shown.items, next_cursor, cache=cache_for(viewer))


@router.get("/feed", responses={200: _POSTS, **CONDITIONAL_RESPONSES}, summary="The home feed, newest first")
def home_feed(request: Request, viewer: SignedIn, deps: Deps, page: Page, mask: PostMask) -> Response:
    list_name = f"feed:{viewer.account_id}"  # one account's feed cursors are no use on another's
    cursor = domain_cursor(deps, page, list_name)
    with read_only(deps.engine).begin() as conn:
        hydrator = PageHydrator(deps, conn, viewer, mask)  # the page's visibility check is its hydration
        # last_seen_at is kept by the authenticator (credentials.note_use), as for gRPC: no write here
        found = read_feed(
            conn, deps.redis, viewer.account_id, cursor=cursor, limit=page.limit, touch_last_seen=False,
            design=deps.feed_design, config=deps.feed_config, metrics=deps.feed_metrics, keep=hydrator.keep,
        )  # fmt: skip
        shown = hydrator.shown(found.post_ids)
    return _answer(
        request, deps, viewer, shown, next_cursor=web_cursor(deps, found.next_cursor, list_name), surface=Surface.FEED
    )


@router.get(
    "/accounts/{handle}/posts",
    responses={200: _POSTS, **CONDITIONAL_RESPONSES},
    summary="An account's posts, newest first",
)
def account_posts(
    request: Request, handle: str, *, viewer: CurrentViewer, deps: Deps, page: Page, mask: PostMask
) -> Response:
    list_name = f"posts:{lookup_handle(handle) or handle}"  # @Alice and @alice: one list
    cursor = domain_cursor(deps, page, list_name)
    with read_only(deps.engine).begin() as conn:
        found = profiles.list_account_posts(conn, viewer, handle, cursor, page.limit)
        shown = hydrate_page(deps, conn, found.items, viewer, mask)
    return _answer(
        request,
        deps,
        viewer,
        shown,
        next_cursor=web_cursor(deps, found.next_cursor, list_name),
        surface=Surface.PROFILE,
    )


@router.get(
    "/tags/{tag}/posts",
    responses={200: _POSTS, **CONDITIONAL_RESPONSES},
    summary="A hashtag's posts, newest first",
)
def tag_posts(request: Request, tag: str, *, viewer: CurrentViewer, deps: Deps, page: Page, mask: PostMask) -> Response:
    name = tags.normalize_tag(tag)
    list_name = f"tag:{name}"  # #Sun and sun: one list
    cursor = domain_cursor(deps, page, list_name)
    with read_only(deps.engine).begin() as conn:
        found = tags.tag_posts(conn, viewer, name, cursor, page.limit)
        shown = hydrate_page(deps, conn, found.items, viewer, mask)
    return _answer(
        request, deps, viewer, shown, next_cursor=web_cursor(deps, found.next_cursor, list_name), surface=Surface.TAG
    )
