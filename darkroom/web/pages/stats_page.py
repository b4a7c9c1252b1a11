"""A post's stats, ``/p/{id}/stats``, for its author: impressions, unique viewers, likes and
comments per UTC day (``darkroom.post_daily_stats``, written by the analytics job), as a chart
and a table, with the totals.

Only the post's author sees them. To anyone else (another account, an admin, a signed-out visitor)
the page is exactly the 404 page of a post that does not exist, so an id cannot be probed. The
numbers are the analytics tables' (``WebDeps.stats``): as fresh as the job's last run, and none
before its first (the page says so).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Post
from darkroom.api.fieldmask import Mask
from darkroom.social import postcache
from darkroom.social.errors import NotFound, SocialError
from darkroom.social.ids import check_id
from darkroom.storage.db import read_only
from darkroom.web.auth import CurrentViewer
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps
from darkroom.web.pages.post_page import post_path, refused
from darkroom.web.pages.rendering import pages_of
from darkroom.web.pages.stats_views import MAX_DAYS_SHOWN, post_stats

__all__ = ["CAPTION_CHARS", "router", "server_timing", "stats_path"]

router = APIRouter(include_in_schema=False)
CAPTION_CHARS = 80  # the caption's start, naming the post in the heading's line
_FIELDS = Mask.parse("id,author.id,author.handle,caption,created_at", Post.DESCRIPTOR, name="fields")


def stats_path(post_id: str) -> str:
    """The stats page of ``post_id``."""
    return f"{post_path(post_id)}/stats"


def server_timing(name: str, started: float) -> dict[str, str]:
    """A ``Server-Timing`` header of the time since ``started`` (``time.perf_counter``), in ms:
    what the analytics read and the page cost, seen in the browser's network panel."""
    return {"Server-Timing": f"{name};dur={(time.perf_counter() - started) * 1000:.1f}"}


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
    stats = post_stats(deps.stats.post_days(post_id))
    context = {
        "post_id": post_id,
        "post_href": post_path(post_id),
        "excerpt": _excerpt(post.caption),
        "stats": stats,
        "max_days": MAX_DAYS_SHOWN,
    }
    headers = server_timing("stats", started)
    return pages_of(request).render(request, "post_stats.html", context, cache=NO_STORE, headers=headers)
