"""``/compose``: a new post of up to 10 photos and videos and a caption (docs/web.md, "Compose").

The page is a form that ``static/compose.js`` drives against the ``/v1`` API, as any client
would: photos go to ``POST /v1/uploads`` (multipart, with the browser's upload progress), videos
through tus at ``/v1/uploads/tus`` (tus-js-client, pinned and vendored: a dropped connection
resumes from the server's offset), then ``POST /v1/posts``, then the uploads' server-sent events
until the post is ready or failed. The limits the script checks before sending anything come from
the domain here, so the page and the API cannot disagree. Signed out, it redirects to the login.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom.social.captions import MAX_CAPTION_CHARS
from darkroom.social.posts import MAX_MEDIA
from darkroom.web.auth import CurrentViewer
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps
from darkroom.web.pages.rendering import pages_of
from darkroom.web.pages.session_pages import see_other

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/compose")
def compose(request: Request, deps: Deps, viewer: CurrentViewer) -> Response:
    """The compose form for a signed-in person; a ``303`` to ``/login`` otherwise."""
    if viewer is None:
        return see_other("/login")
    limits = deps.upload_limits
    context = {
        "max_files": MAX_MEDIA,
        "max_caption": MAX_CAPTION_CHARS,
        "max_photo_bytes": limits.max_photo_bytes,
        "max_video_bytes": limits.max_video_bytes,
    }
    # no-store: the page carries the session's CSRF token and nothing worth keeping offline
    return pages_of(request).render(request, "compose.html", context, cache=NO_STORE)
