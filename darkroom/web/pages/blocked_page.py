"""``/settings/blocked``: the accounts the signed-in person blocks, newest first (50 a page,
"More" continues with the API's kind of signed cursor), each with Unblock (``graph.unblock``, a
CSRF form; a ``303`` back to the list)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom.social import blocklist, graph
from darkroom.social.errors import SocialError
from darkroom.storage.db import read_only
from darkroom.web.api.reads import domain_cursor, web_cursor
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps
from darkroom.web.pages.captions import profile_path
from darkroom.web.pages.post_page import refused
from darkroom.web.pages.post_views import ago
from darkroom.web.pages.rendering import pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.pagination import PageRequest

__all__ = ["BLOCKED_PAGE_SIZE", "BlockedView", "router"]

router = APIRouter(include_in_schema=False)
BLOCKED_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class BlockedView:
    handle: str
    name: str
    href: str
    since: str


@router.get("/settings/blocked")
def blocked_page(request: Request, deps: Deps, viewer: CurrentViewer, cursor: str | None = None) -> Response:
    """A page of the blocked accounts; signed out, a ``303`` to ``/login``."""
    if viewer is None:
        return see_other("/login")
    list_name = f"blocked:{viewer.account_id}"  # a cursor of one person's list is no good for another's
    inner = domain_cursor(deps, PageRequest(BLOCKED_PAGE_SIZE, cursor or None), list_name)
    try:
        with read_only(deps.engine).begin() as conn:
            found = blocklist.list_blocked(conn, viewer, inner, BLOCKED_PAGE_SIZE)
    except SocialError as exc:
        return refused(request, exc)
    people = [
        BlockedView(b.account.handle, b.account.display_name or b.account.handle, profile_path(b.account.handle),
                    ago(b.blocked_at))
        for b in found.items
    ]  # fmt: skip
    following = web_cursor(deps, found.next_cursor, list_name)
    context = {
        "people": people,
        "next_href": None if following is None else f"/settings/blocked?{urlencode({'cursor': following})}",
        "continued": cursor is not None,
    }
    return pages_of(request).render(request, "blocked.html", context, cache=NO_STORE)


@router.post("/settings/blocked/{handle}/unblock")
def unblock(request: Request, handle: str, deps: Deps, viewer: SignedIn) -> Response:
    """Lift the block of ``handle`` (again: nothing changes); back to the list."""
    try:
        with deps.engine.begin() as conn:
            graph.unblock(conn, viewer, handle)
    except SocialError as exc:
        return refused(request, exc)
    return see_other("/settings/blocked")
