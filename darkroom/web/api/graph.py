"""The follow graph over HTTP: follow and unfollow, follower and following lists, follow requests
of private accounts, blocks.

A private account's lists are for itself, its active followers and admins; anyone else gets 404,
as for a missing account (docs/social.md, "Visibility"). An account that blocks the viewer is 404
everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Account
from darkroom.api.fieldmask import Mask
from darkroom.social import graph
from darkroom.social.accounts import AccountRow
from darkroom.social.errors import NotFound
from darkroom.social.handles import lookup_handle
from darkroom.social.paging import Page as DomainPage
from darkroom.social.viewer import Viewer
from darkroom.web.api.reads import AccountMask, account_dicts, cache_for, read_page
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import CONDITIONAL_RESPONSES, PRIVATE_REVALIDATE
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.openapi import json_body, page
from darkroom.web.pagination import Page, PageRequest

__all__ = ["router"]

router = APIRouter(tags=["follows"])

_ACCOUNTS = page(Account.DESCRIPTOR, "a page of accounts (proto3 JSON), newest follow first")
_FOLLOW_STATE = json_body(
    {
        "type": "object",
        "required": ["state"],
        "properties": {"state": {"enum": [state.value for state in graph.FollowState]}},
        "additionalProperties": False,
    },
    "`active`, or `requested` until a private account accepts",
)

Lister = Callable[[sa.Connection, Viewer | None, str, str | None, int], DomainPage[AccountRow]]


@router.post("/v1/accounts/{handle}/follow", responses={200: _FOLLOW_STATE})
def follow(deps: Deps, handle: str, viewer: SignedIn) -> dict[str, str]:
    """Follow ``handle``: ``{"state": "active"}``, or ``"requested"`` towards a private account
    (until it accepts). Following again answers the current state."""
    with deps.engine.begin() as conn:
        state = graph.follow(conn, viewer, handle)
    return {"state": state.value}


@router.delete("/v1/accounts/{handle}/follow", status_code=204)
def unfollow(deps: Deps, handle: str, viewer: SignedIn) -> Response:
    """Stop following ``handle``, or withdraw a request (not following it is fine too)."""
    with deps.engine.begin() as conn:
        graph.unfollow(conn, viewer, handle)
    return Response(status_code=204)


@router.get("/v1/accounts/{handle}/followers", responses={200: _ACCOUNTS, **CONDITIONAL_RESPONSES})
def followers(
    request: Request, deps: Deps, *, handle: str, viewer: CurrentViewer, page: Page, mask: AccountMask
) -> Response:
    """Who follows ``handle``, newest follow first."""
    return _account_list(
        request, deps, viewer, handle, page=page, mask=mask, lister=graph.list_followers, kind="followers"
    )


@router.get("/v1/accounts/{handle}/following", responses={200: _ACCOUNTS, **CONDITIONAL_RESPONSES})
def following(
    request: Request, deps: Deps, *, handle: str, viewer: CurrentViewer, page: Page, mask: AccountMask
) -> Response:
    """Whom ``handle`` follows, newest follow first."""
    return _account_list(
        request, deps, viewer, handle, page=page, mask=mask, lister=graph.list_following, kind="following"
    )


@router.get("/v1/follow-requests", responses={200: _ACCOUNTS, **CONDITIONAL_RESPONSES})
def follow_requests(request: Request, deps: Deps, viewer: SignedIn, page: Page, mask: AccountMask) -> Response:
    """The accounts waiting for the signed-in account to accept their follow request, newest first."""

    def read(conn: sa.Connection, cursor: str | None) -> DomainPage[dict[str, object]]:
        found = graph.list_follow_requests(conn, viewer, cursor, page.limit)
        return DomainPage(account_dicts(conn, [a.id for a in found.items], viewer, mask), found.next_cursor)

    return read_page(request, deps, page, f"follow-requests:{viewer.account_id}", read, cache=PRIVATE_REVALIDATE)


@router.post("/v1/follow-requests/{handle}/accept", status_code=204)
def accept(deps: Deps, handle: str, viewer: SignedIn) -> Response:
    """Accept ``handle``'s request: it follows the signed-in account from now on."""
    with deps.engine.begin() as conn:
        graph.accept_request(conn, viewer, handle)
    return Response(status_code=204)


@router.post("/v1/follow-requests/{handle}/reject", status_code=204)
def reject(deps: Deps, handle: str, viewer: SignedIn) -> Response:
    """Reject ``handle``'s request (it may ask again)."""
    with deps.engine.begin() as conn:
        graph.reject_request(conn, viewer, handle)
    return Response(status_code=204)


@router.post("/v1/accounts/{handle}/block", status_code=204)
def block(deps: Deps, handle: str, viewer: SignedIn) -> Response:
    """Block ``handle``: follows and requests between the two go, both ways, and ``handle`` no
    longer finds the signed-in account. Blocking twice changes nothing."""
    with deps.engine.begin() as conn:
        graph.block(conn, viewer, handle)
    return Response(status_code=204)


@router.delete("/v1/accounts/{handle}/block", status_code=204)
def unblock(deps: Deps, handle: str, viewer: SignedIn) -> Response:
    """Lift the block (follows it removed are not restored)."""
    with deps.engine.begin() as conn:
        graph.unblock(conn, viewer, handle)
    return Response(status_code=204)


def _account_list(
    request: Request,
    deps: WebDeps,
    viewer: Viewer | None,
    handle: str,
    *,
    page: PageRequest,
    mask: Mask,
    lister: Lister,
    kind: str,
) -> Response:
    key = lookup_handle(handle)
    if key is None:  # no account can have it: answer before reading the cursor
        raise NotFound(f"no account {handle!r}", field="handle")

    def read(conn: sa.Connection, cursor: str | None) -> DomainPage[dict[str, object]]:
        found = lister(conn, viewer, key, cursor, page.limit)
        return DomainPage(account_dicts(conn, [a.id for a in found.items], viewer, mask), found.next_cursor)

    # a cursor is good for its list only
    return read_page(request, deps, page, f"{kind}:{key}", read, cache=cache_for(viewer))
