"""The feed's "new posts" bar: an open feed page asks every 30 s, while it is visible
(``static/feed.js``), how many posts arrived above the newest one it shows, and shows a bar
("3 new posts") that loads them in at the top when pressed. Nothing the person is reading moves
until then: the bar floats over the page.

The poll (``GET /feed/new?since=<post id>``) is one Redis command (``feed.count_newer`` on the
pushed feed: no SQL, no hydration) and answers the bar, or nothing. Pressing the bar
(``GET /feed/new/posts?since=…``) reads the feed's first page as ``/`` does and answers the posts
newer than ``since`` (hydrated, with their latest comments) and, out of band, a new slot counting
from the newest of them. More new posts than a page leave a gap the feed could not fill in place:
then the answer sends the browser to ``/`` (``HX-Redirect``), a fresh feed.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom.social.errors import SocialError
from darkroom.social.feed import count_newer, read_feed
from darkroom.social.ids import check_id
from darkroom.social.impressions import Surface
from darkroom.storage.db import read_only
from darkroom.web.auth import SignedIn
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps
from darkroom.web.pages.feed_page import PAGE_SIZE, POLL_MS, feed_posts, new_posts_path
from darkroom.web.pages.post_page import refused
from darkroom.web.pages.rendering import is_htmx, pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.post_pages import views

__all__ = ["MAX_SHOWN", "bar_label", "router"]

router = APIRouter(include_in_schema=False)
MAX_SHOWN = 99  # "99+ new posts" beyond: a larger number tells a reader nothing more


def bar_label(count: int) -> str:
    """What the bar says: ``1 new post``, ``3 new posts``, ``99+ new posts``; "" for none."""
    if count <= 0:
        return ""
    if count > MAX_SHOWN:
        return f"{MAX_SHOWN}+ new posts"
    return "1 new post" if count == 1 else f"{count} new posts"


def _since(raw: str | None) -> str | None:
    return check_id(raw, field="since") if raw else None


@router.get("/feed/new")
def new_posts_bar(request: Request, deps: Deps, viewer: SignedIn, since: str | None = None) -> Response:
    """The bar saying how many posts arrived above ``since`` (none: every post), or nothing."""
    try:
        newest = _since(since)
    except SocialError as exc:
        return refused(request, exc)
    label = bar_label(count_newer(deps.redis, viewer.account_id, newest))
    href = "/feed/new/posts" if newest is None else f"/feed/new/posts?{urlencode({'since': newest})}"
    context = {"label": label, "load_href": href}
    return pages_of(request).render(request, "_new_posts_bar.html", context, cache=NO_STORE)


@router.get("/feed/new/posts")
def new_posts(request: Request, deps: Deps, viewer: SignedIn, since: str | None = None) -> Response:
    """To htmx: the posts newer than ``since`` to put at the top of the feed, and the bar's next
    slot; a reload of ``/`` when they are more than a page. Without htmx: a 303 to ``/``."""
    try:
        newest = _since(since)
    except SocialError as exc:
        return refused(request, exc)
    if not is_htmx(request):
        return see_other("/")
    with read_only(deps.engine).begin() as conn:
        found = read_feed(
            conn, deps.redis, viewer.account_id, cursor=None, limit=PAGE_SIZE, touch_last_seen=False,
            design=deps.feed_design, config=deps.feed_config, metrics=deps.feed_metrics,
        )  # fmt: skip
        fresh = [p for p in found.post_ids if newest is None or p > newest]
        if found.next_cursor is not None and len(fresh) == len(found.post_ids):
            return Response(headers={"HX-Redirect": "/", "Cache-Control": str(NO_STORE)})
        context = feed_posts(conn, deps, viewer, fresh)
    views(deps, viewer, [p.id for p in context["posts"]], Surface.FEED)
    context |= {"new_posts_href": new_posts_path(max(fresh, default=newest)), "poll_ms": POLL_MS}
    return pages_of(request).render(request, "_new_posts.html", context, cache=NO_STORE)
