"""A post's stats, ``/p/{id}/stats``, for its author: impressions, unique viewers, likes and
comments per UTC day (``darkroom.post_daily_stats``, written by the analytics job), as a chart
and a table, with the totals; and ``/settings/stats``, the totals of one's latest posts, each
linking to its page.

Only the post's author sees them. To anyone else (another account, an admin, a signed-out visitor)
the page is exactly the 404 page of a post that does not exist, so an id cannot be probed. The
numbers are the analytics tables' (``WebDeps.stats``): as fresh as the job's last run, and none
before its first (the page says so).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.fieldmask import Mask
from darkroom.social import postcache, profiles
from darkroom.social.errors import NotFound, SocialError
from darkroom.social.ids import check_id
from darkroom.storage.db import read_only
from darkroom.web.auth import CurrentViewer
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps
from darkroom.web.pages.post_page import post_path, refused
from darkroom.web.pages.post_views import ago
from darkroom.web.pages.rendering import pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.pages.stats_views import MAX_DAYS_SHOWN, post_stats

if TYPE_CHECKING:
    from darkroom.analytics.errors import StatsUnavailable

__all__ = ["CAPTION_CHARS", "OVERVIEW_POSTS", "PostRow", "router", "server_timing", "stats_path", "unavailable"]

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
CAPTION_CHARS = 80  # the caption's start, naming the post in the heading's line
OVERVIEW_POSTS = 50  # /settings/stats: the latest posts (a post's own page has the rest)
_FIELDS = Mask.parse("id,author.id,author.handle,caption,created_at", Post.DESCRIPTOR, name="fields")


def stats_path(post_id: str) -> str:
    """The stats page of ``post_id``."""
    return f"{post_path(post_id)}/stats"


def server_timing(name: str, started: float) -> dict[str, str]:
    """A ``Server-Timing`` header of the time since ``started`` (``time.perf_counter``), in ms:
    what the analytics read and the page cost, seen in the browser's network panel."""
    return {"Server-Timing": f"{name};dur={(time.perf_counter() - started) * 1000:.1f}"}


def unavailable(request: Request, exc: StatsUnavailable, *, detail: bool = False) -> Response:
    """A 503 page saying the stats cannot be read now; the cause only with ``detail`` (an
    operator's page: it may name the catalog's host or a file), always in the log."""
    log.warning("stats page %s: %s", request.url.path, exc)
    message = "The stats cannot be read just now. Try again in a little while."
    context = {"title": "Stats unavailable", "message": f"{message} ({exc})" if detail else message}
    return pages_of(request).render(request, "error.html", context, status=503, cache=NO_STORE)


def _excerpt(caption: str) -> str:
    text = " ".join(caption.split())
    return text if len(text) <= CAPTION_CHARS else text[: CAPTION_CHARS - 1].rstrip() + "…"


@router.get("/p/{post_id}/stats")
def stats_page(request: Request, post_id: str, deps: Deps, viewer: CurrentViewer) -> Response:
    """The post's days and totals to its author; the missing post's 404 page to anyone else."""
    started = time.perf_counter()
    try:
        post_id = check_id(post_id, field="post_id")
        missing = NotFound(f"no post {post_id}", field="post_id")  # the post page's words, exactly
        if viewer is None:
            raise missing
        with read_only(deps.engine).begin() as conn:
            found = postcache.hydrate(conn, deps.redis, [post_id], viewer, _FIELDS, urls=deps.media_urls)
        if not found or found[0].author.id != viewer.account_id:
            raise missing
    except SocialError as exc:
        return refused(request, exc)
    post = found[0]
    from darkroom.analytics.errors import StatsUnavailable  # here: the pages load without pyiceberg

    try:
        stats = post_stats(deps.stats.post_days(post_id))
    except StatsUnavailable as exc:
        return unavailable(request, exc)
    context = {
        "post_id": post_id,
        "post_href": post_path(post_id),
        "excerpt": _excerpt(post.caption),
        "stats": stats,
        "max_days": MAX_DAYS_SHOWN,
    }
    headers = server_timing("stats", started)
    return pages_of(request).render(request, "post_stats.html", context, cache=NO_STORE, headers=headers)


@dataclass(frozen=True, slots=True)
class PostRow:
    """One post on ``/settings/stats``: its caption's start, when it was posted, its totals."""

    id: str
    href: str
    excerpt: str
    posted: str
    posted_iso: str
    impressions: int
    most_viewers: int
    likes: int
    comments: int


@router.get("/settings/stats")
def stats_overview(request: Request, deps: Deps, viewer: CurrentViewer) -> Response:
    """The signed-in person's latest posts with their totals; signed out, a ``303`` to ``/login``."""
    started = time.perf_counter()
    if viewer is None:
        return see_other("/login")
    try:
        with read_only(deps.engine).begin() as conn:
            ids = profiles.list_account_posts(conn, viewer, viewer.handle, limit=OVERVIEW_POSTS).items
            found = postcache.hydrate(conn, deps.redis, ids, viewer, _FIELDS, urls=deps.media_urls)
    except SocialError as exc:
        return refused(request, exc)
    from darkroom.analytics.errors import StatsUnavailable  # here: the pages load without pyiceberg

    try:
        totals = deps.stats.post_totals(tuple(p.id for p in found)) if found else {}
    except StatsUnavailable as exc:
        return unavailable(request, exc)
    rows = []
    for post in found:
        t = totals.get(post.id)
        created = post.created_at.ToMicroseconds() / 1_000_000
        rows.append(
            PostRow(
                post.id, stats_path(post.id), _excerpt(post.caption), ago(created),
                post.created_at.ToJsonString(),
                t.impressions if t else 0, t.most_viewers if t else 0, t.likes if t else 0, t.comments if t else 0,
            )
        )  # fmt: skip
    context = {"rows": rows, "counted": bool(totals), "limit": OVERVIEW_POSTS}
    headers = server_timing("stats", started)
    return pages_of(request).render(request, "settings_stats.html", context, cache=NO_STORE, headers=headers)
