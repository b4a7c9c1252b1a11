"""The search page, ``/search?q=``: accounts and hashtags starting with what is typed.

The search is the API's (``web/api/search.find``, as ``GET /v1/search``: ``@ana`` accounts only,
``#sun`` hashtags only, anything else both; accounts in a block with the viewer left out), the
accounts loaded through ``resources.load_accounts`` as every list of accounts is. Without
JavaScript it is a plain GET form; with htmx the input asks as one types (250 ms after the last
key, or at once on Enter or the clear button) and swaps in the results alone, the URL following
the query (``hx-replace-url``) and a live region saying how much was found.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom.social.errors import SocialError
from darkroom.social.tags import TagCount
from darkroom.storage.db import read_only
from darkroom.web.api.search import find
from darkroom.web.auth import CurrentViewer
from darkroom.web.deps import Deps
from darkroom.web.pages.captions import tag_path
from darkroom.web.pages.profile_page import ProfileView, profile_views
from darkroom.web.pages.rendering import is_htmx, pages_of
from darkroom.web.problems import HTTP_STATUSES

__all__ = ["RESULTS_LIMIT", "TagView", "router"]

router = APIRouter(include_in_schema=False)
RESULTS_LIMIT = 10  # of each kind: a search box wants the best few, as the API's
_NOTHING_YET = ("", "@", "#")  # what one types first: no search yet, and no error either


@dataclass(frozen=True, slots=True)
class TagView:
    """A hashtag as a result shows it."""

    name: str
    href: str
    post_count: int


def _tag_view(tag: TagCount) -> TagView:
    return TagView(tag.name, tag_path(tag.name), tag.post_count)


def _summary(people: list[ProfileView], hashtags: list[TagView]) -> str:
    """What the live region says after a search."""
    parts = [
        f"{len(found)} {noun if len(found) == 1 else noun + 's'}"
        for found, noun in ((people, "account"), (hashtags, "hashtag"))
        if found
    ]
    return " and ".join(parts) + " found" if parts else "Nothing found"


@router.get("/search")
def search_page(request: Request, deps: Deps, viewer: CurrentViewer, q: str = "") -> Response:
    """The form and what ``q`` finds; to htmx (typing) the results alone."""
    text = q.strip()
    searched = text not in _NOTHING_YET
    people: list[ProfileView] = []
    hashtags: list[TagView] = []
    error, status = "", 200
    if searched:
        try:
            with read_only(deps.engine).begin() as conn:
                found = find(conn, viewer, text, RESULTS_LIMIT)
                people = profile_views(conn, deps, viewer, [a.id for a in found.accounts])
            hashtags = [_tag_view(t) for t in found.hashtags]
        except SocialError as exc:  # "#a b", a prefix longer than any name: the domain's message
            error, status = str(exc), HTTP_STATUSES.status(exc)
    context = {
        "q": q,
        "people": people,
        "hashtags": hashtags,
        "error": error,
        "searched": searched,
        "summary": error or (_summary(people, hashtags) if searched else ""),
    }
    pages = pages_of(request)
    # a history restore (Back to a replaced URL) wants the whole page, though htmx asks for it
    if is_htmx(request) and request.headers.get("hx-history-restore-request") != "true":
        # 200 even for a refused query: htmx swaps no error answer, and "#" half typed is no failure
        return pages.render(request, "_search_results.html", context | {"oob": True})
    return pages.render(request, "search.html", context | {"oob": False}, status=status)
