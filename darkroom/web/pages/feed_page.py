"""The home page: the feed when signed in, the login form otherwise; and the like button.

The feed reads as ``GET /v1/feed`` does, through the same helpers: ``feed.read_feed`` in a
read-only transaction, the page through the post cache (``postcache.hydrate``), the cursor the
API's (signed, bound to ``feed:<account id>``), one ``post.viewed`` per post shown. 20 posts a
page; "More posts" is a link to ``/?cursor=…`` (a whole page without JavaScript) that htmx turns
into the next 20 appended in place when it scrolls into view or is clicked. Under each post, its
latest comments (read for the whole page in one statement, ``comment_views.latest_comment_views``)
and the post page's comment box. The first page starts the "new posts" bar (``new_posts.py``) from
its newest post.

Liking is a form (``POST /posts/{id}/like`` with ``liked=true|false``, the state asked for, and
the session's CSRF token) that htmx posts and whose inside it swaps for the answer's; without
JavaScript the post redirects back. The
count it shows is counted from the rows in the like's transaction (``like_counts``), since the
post's ``like_count`` is the counter consumer's and may lag a moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.fieldmask import Mask
from darkroom.social import like_counts, postcache, reactions
from darkroom.social.errors import SocialError
from darkroom.social.feed import read_feed
from darkroom.social.ids import check_id
from darkroom.social.impressions import Surface
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.api.reads import domain_cursor, web_cursor
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.pages.comment_views import latest_comment_views
from darkroom.web.pages.post_views import FEED_SIZES, post_view
from darkroom.web.pages.rendering import is_htmx, pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.pages.toggles import Asked, toggle
from darkroom.web.pagination import PageRequest
from darkroom.web.post_pages import views
from darkroom.web.problems import HTTP_STATUSES

__all__ = ["PAGE_SIZE", "POLL_MS", "POST_FIELDS", "feed_posts", "new_posts_path", "router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
POLL_MS = 30_000  # how often an open, visible feed asks whether new posts arrived (static/feed.js)
# what a post of the feed shows: the mask reaches the hydration (no avatar, no error, no updated_at)
POST_FIELDS = Mask.parse(
    "id,author.id,author.handle,author.display_name,caption,media,like_count,comment_count,liked_by_me,tags,mentions,"
    "created_at",
    Post.DESCRIPTOR,
    name="fields",
)


def feed_posts(conn: sa.Connection, deps: WebDeps, viewer: Viewer, post_ids: Sequence[str]) -> dict[str, Any]:
    """The template's values of a page of feed posts: the posts (hydrated as ``GET /v1/feed``
    does) and their latest comments, read in ``conn``'s transaction."""
    posts = postcache.hydrate(conn, deps.redis, post_ids, viewer, POST_FIELDS, urls=deps.media_urls)
    shown = [post_view(p) for p in posts]
    previews = latest_comment_views(conn, viewer, shown, urls=deps.media_urls)
    return {"posts": shown, "previews": previews, "sizes": FEED_SIZES, "feed": True}


def new_posts_path(since: str | None) -> str:
    """The count of the feed's posts newer than ``since`` (the "new posts" bar polls it)."""
    return "/feed/new" if since is None else f"/feed/new?{urlencode({'since': since})}"


def _feed(request: Request, deps: WebDeps, viewer: Viewer, cursor: str | None) -> Response:
    list_name = f"feed:{viewer.account_id}"  # the API's list: its cursors and these are one kind
    inner = domain_cursor(deps, PageRequest(PAGE_SIZE, cursor), list_name)
    with read_only(deps.engine).begin() as conn:
        found = read_feed(
            conn, deps.redis, viewer.account_id, cursor=inner, limit=PAGE_SIZE, touch_last_seen=False,
            design=deps.feed_design, config=deps.feed_config, metrics=deps.feed_metrics,
        )  # fmt: skip
        context = feed_posts(conn, deps, viewer, found.post_ids)
    views(deps, viewer, [p.id for p in context["posts"]], Surface.FEED)
    following = web_cursor(deps, found.next_cursor, list_name)
    context |= {
        "next_href": None if following is None else f"/?{urlencode({'cursor': following})}",
        "continued": cursor is not None,
        # the "new posts" bar counts what arrived above the newest post read (none: every post)
        "new_posts_href": new_posts_path(max(found.post_ids, default=None)),
        "poll_ms": POLL_MS,
    }
    pages = pages_of(request)
    if is_htmx(request) and cursor is not None:
        return pages.render(request, "_feed_page.html", context)
    return pages.render(request, "feed.html", context)


@router.get("/")
def home(request: Request, deps: Deps, viewer: CurrentViewer, cursor: str | None = None) -> Response:
    """The feed from ``cursor`` (None: the newest) when signed in, else the login form."""
    if viewer is None:
        return pages_of(request).render(request, "login.html", {"login": "", "error": ""}, cache=NO_STORE)
    return _feed(request, deps, viewer, cursor or None)


def _react(request: Request, deps: WebDeps, viewer: Viewer, post_id: str, *, like: bool) -> Response:
    try:
        post_id = check_id(post_id, field="post_id")
        with deps.engine.begin() as conn:
            (reactions.like if like else reactions.unlike)(conn, viewer, post_id)
            count = like_counts.count_likes(conn, post_id)
    except SocialError as exc:
        status = HTTP_STATUSES.status(exc)
        context = {"title": "Not available" if status == 404 else "Refused", "message": str(exc)}
        return pages_of(request).render(request, "error.html", context, status=status, cache=NO_STORE)
    # the post's cached counts are the consumer's to refresh; the button shows the rows' count now
    if not is_htmx(request):
        return see_other(f"/#post-{post_id}")
    post = {"id": post_id, "liked": like, "like_count": count}
    return pages_of(request).render(request, "_like_controls.html", {"post": post}, cache=NO_STORE)


@router.post("/posts/{post_id}/like")
def like_post(request: Request, post_id: str, viewer: SignedIn, deps: Deps, liked: Asked = "true") -> Response:
    """Like (``liked=true``) or take the like back (``false``)."""
    return toggle(request, liked, field="liked", to=lambda like: _react(request, deps, viewer, post_id, like=like))
