"""``/settings/export`` (download my data) and ``/settings/delete`` (delete my account).

The export is the domain's (:mod:`darkroom.social.export`), answered as ``GET
/v1/accounts/me/export`` answers it; here it is a CSRF form's ``POST``, whose answer is the zip
(``Content-Disposition: attachment``: the browser saves it and stays on the page). Deleting asks
for the password again (``account_lifecycle.confirm_password``: argon2id outside the write
transaction, counted by the login throttle), then ``account_lifecycle.delete_account`` (every
session and token revoked), clears the cookies and redirects to ``/``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from darkroom.social import account_lifecycle, credential_cache
from darkroom.social.errors import LoginThrottled, SocialError
from darkroom.storage.db import read_only
from darkroom.web.api.export import export_response
from darkroom.web.auth import CurrentViewer, SignedIn, clear_session_cookie
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps
from darkroom.web.edge import client_address
from darkroom.web.pages.rendering import pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.problems import HTTP_STATUSES

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/settings/export")
def export_page(request: Request, viewer: CurrentViewer) -> Response:
    """What the download holds, and its button; signed out, a ``303`` to ``/login``."""
    if viewer is None:
        return see_other("/login")
    return pages_of(request).render(request, "export.html", cache=NO_STORE)


@router.post("/settings/export")
def download(deps: Deps, viewer: SignedIn) -> Response:
    """The zip of the person's data."""
    return export_response(deps, viewer)


@router.get("/settings/delete")
def delete_page(request: Request, viewer: CurrentViewer) -> Response:
    """The deletion form (the password again); signed out, a ``303`` to ``/login``."""
    if viewer is None:
        return see_other("/login")
    return pages_of(request).render(request, "delete.html", {"error": ""}, cache=NO_STORE)


@router.post("/settings/delete")
def delete_account(request: Request, deps: Deps, viewer: SignedIn, password: Annotated[str, Form()] = "") -> Response:
    """Delete the account once its password is right; signed out, to ``/``."""
    try:
        with read_only(deps.engine).begin() as conn:
            account_lifecycle.confirm_password(
                conn, deps.redis, viewer, password, address=client_address(request.scope)
            )
        with credential_cache.revoking(deps.engine, deps.redis) as revocation:  # the cache told too
            account_lifecycle.delete_account(revocation.conn, viewer)
            revocation.account(viewer.account_id)
    except SocialError as exc:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, LoginThrottled) else None
        return pages_of(request).render(
            request, "delete.html", {"error": str(exc)}, status=HTTP_STATUSES.status(exc), cache=NO_STORE,
            headers=headers,
        )  # fmt: skip
    response = see_other("/")
    clear_session_cookie(response, request)
    return response
