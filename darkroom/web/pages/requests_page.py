"""Follow requests, ``/requests``: who asks to follow the signed-in (private) account, newest first,
20 a page ("More requests" continues), each with Accept and Reject.

The list is ``graph.list_follow_requests`` with the API's signed cursor of
``follow-requests:<account id>``, as ``GET /v1/follow-requests``; answering is
``graph.accept_request``/``reject_request``, as ``POST /v1/follow-requests/{handle}/accept`` and
``/reject``. Each answer is a form (the session's CSRF token) that htmx posts, swapping the row for
what happened (an accepted one offers to follow back); without JavaScript a ``303`` back to the
list. A signed-out visitor is sent to ``/login``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom.social import graph
from darkroom.social.errors import SocialError
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.api.reads import domain_cursor, web_cursor
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.pages.post_page import refused
from darkroom.web.pages.profile_page import load_profile, profile_views
from darkroom.web.pages.rendering import is_htmx, pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.pagination import PageRequest

__all__ = ["REQUESTS_PATH", "REQUESTS_PER_PAGE", "router"]

router = APIRouter(include_in_schema=False)
REQUESTS_PATH = "/requests"
REQUESTS_PER_PAGE = 20


@router.get(REQUESTS_PATH)
def requests_page(request: Request, deps: Deps, viewer: CurrentViewer, cursor: str | None = None) -> Response:
    """The signed-in account's follow requests from ``cursor`` (htmx: the next rows alone)."""
    if viewer is None:
        return see_other("/login")
    list_name = f"follow-requests:{viewer.account_id}"  # the API's list: its cursors and these are one kind
    try:
        inner = domain_cursor(deps, PageRequest(REQUESTS_PER_PAGE, cursor or None), list_name)
        with read_only(deps.engine).begin() as conn:
            found = graph.list_follow_requests(conn, viewer, inner, REQUESTS_PER_PAGE)
            people = profile_views(conn, deps, viewer, [a.id for a in found.items])
    except SocialError as exc:
        return refused(request, exc)
    following = web_cursor(deps, found.next_cursor, list_name)
    context = {
        "people": people,
        "next_href": None if following is None else f"{REQUESTS_PATH}?{urlencode({'cursor': following})}",
        "continued": cursor is not None,
    }
    pages = pages_of(request)
    if is_htmx(request) and cursor:
        return pages.render(request, "_requests_page.html", context)
    return pages.render(request, "requests.html", context)


def _answer(request: Request, deps: WebDeps, viewer: Viewer, handle: str, *, accept: bool) -> Response:
    try:
        with deps.engine.begin() as conn:
            (graph.accept_request if accept else graph.reject_request)(conn, viewer, handle)
            profile = load_profile(conn, deps, viewer, handle)  # after: "Follow back" if not yet
    except SocialError as exc:
        return refused(request, exc)
    if not is_htmx(request):
        return see_other(REQUESTS_PATH)
    context = {"profile": profile, "accepted": accept}
    return pages_of(request).render(request, "_request_answered.html", context, cache=NO_STORE)


@router.post(REQUESTS_PATH + "/{handle}/accept")
def accept(request: Request, handle: str, viewer: SignedIn, deps: Deps) -> Response:
    """Accept ``handle``'s request: it follows the signed-in account from now on."""
    return _answer(request, deps, viewer, handle, accept=True)


@router.post(REQUESTS_PATH + "/{handle}/reject")
def reject(request: Request, handle: str, viewer: SignedIn, deps: Deps) -> Response:
    """Reject ``handle``'s request (it may ask again)."""
    return _answer(request, deps, viewer, handle, accept=False)
