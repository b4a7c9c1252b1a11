"""Sign up, log in, log out: HTML forms on the same domain calls as ``POST /v1/accounts`` and
``/v1/sessions`` (argon2 outside the write transaction, the login throttle, the same cookies).

Every form posts back here (``form-action 'self'``) from this site (:func:`check_same_origin`);
a signed-in visitor's forms also carry the session's CSRF token (checked app-wide by
``web/auth.py``). A refused form is shown again with the domain's message (escaped) and the
status the API would answer; a success is a ``303`` to ``/``.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from darkroom.social import account_lifecycle, credential_cache, credentials, sessions
from darkroom.social.errors import LoginThrottled, SocialError
from darkroom.storage.db import read_only
from darkroom.web.auth import AuthMethod, auth_of, clear_session_cookie, set_session_cookie
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps
from darkroom.web.edge import client_address
from darkroom.web.pages.rendering import pages_of
from darkroom.web.pages.security import SECURITY_HEADERS, check_same_origin
from darkroom.web.problems import HTTP_STATUSES

__all__ = ["router", "see_other"]

router = APIRouter(include_in_schema=False)
Field = Annotated[str, Form()]


def see_other(location: str) -> Response:
    """A ``303`` to ``location`` (after a form post: the browser GETs it)."""
    return RedirectResponse(location, status_code=303, headers={**SECURITY_HEADERS, "Cache-Control": str(NO_STORE)})


def _refused(request: Request, template: str, exc: SocialError, values: dict[str, str]) -> Response:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, LoginThrottled) else None
    return pages_of(request).render(
        request, template, {"error": str(exc), **values}, status=HTTP_STATUSES.status(exc), cache=NO_STORE,
        headers=headers,
    )  # fmt: skip


def _signed_in(request: Request, deps: Deps, verified: sessions.VerifiedLogin) -> Response:
    with deps.engine.begin() as conn:
        session = sessions.start_session(conn, verified)
    response = see_other("/")
    set_session_cookie(response, request, session.secret, max_age_s=max(1, int(session.expires_at - time.time())))
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    if auth_of(request).viewer is not None:
        return see_other("/")
    return pages_of(request).render(request, "login.html", {"login": "", "error": ""}, cache=NO_STORE)


@router.post("/login")
def log_in(request: Request, deps: Deps, login: Field, password: Field) -> Response:
    check_same_origin(request)
    try:
        # argon2 (the slow part) reads only: on SQLite it must not hold the write lock
        with read_only(deps.engine).begin() as conn:
            verified = sessions.verify_login(
                conn, deps.redis, login=login, password=password, address=client_address(request.scope)
            )
    except SocialError as exc:
        return _refused(request, "login.html", exc, {"login": login})
    return _signed_in(request, deps, verified)


@router.get("/signup")
def signup_page(request: Request) -> Response:
    if auth_of(request).viewer is not None:
        return see_other("/")
    return pages_of(request).render(request, "signup.html", {"handle": "", "email": "", "error": ""}, cache=NO_STORE)


@router.post("/signup")
def sign_up(request: Request, deps: Deps, handle: Field, email: Field, password: Field) -> Response:
    check_same_origin(request)
    try:
        new = account_lifecycle.prepare_account(handle=handle, email=email, password=password)
        with deps.engine.begin() as conn:
            account = account_lifecycle.insert_account(conn, new)
    except SocialError as exc:
        return _refused(request, "signup.html", exc, {"handle": handle, "email": email})
    return _signed_in(request, deps, sessions.VerifiedLogin(account))


@router.post("/logout")
def log_out(request: Request, deps: Deps) -> Response:
    """Revoke the cookie's session (its CSRF token was checked app-wide) and clear the cookies."""
    check_same_origin(request)
    auth = auth_of(request)
    if auth.method is AuthMethod.COOKIE and auth.session:
        with credential_cache.revoking(deps.engine, deps.redis) as revocation:  # the cache told too
            credentials.logout(revocation.conn, auth.session)
            revocation.secret(auth.session)
    response = see_other("/")
    clear_session_cookie(response, request)
    return response
