"""Who is asking, and the CSRF rule for browsers.

- Credentials: ``Authorization: Bearer <token>`` (API clients), else the session cookie
  ``darkroom_session`` (browsers; HttpOnly, SameSite=Lax, Secure when served over https). Both
  go to the app's :class:`~darkroom.web.deps.Authenticator`. A bearer token it does not know is
  a 401 (the client meant to sign in); an unknown session cookie reads as anonymous (a stale
  cookie should not break browsing), and routes that need an account answer 401 themselves.
- CSRF: a state-changing request (not GET, HEAD, OPTIONS or TRACE) authenticated by the cookie
  must carry the session's CSRF token in ``X-CSRF-Token`` or the form field ``csrf_token``.
  The token is HMAC-SHA256(server secret, session): nothing to store, tied to one session (the
  "signed double-submit" pattern); :func:`set_session_cookie` also sets it in the readable cookie
  ``darkroom_csrf`` for scripts. Bearer requests need none: a browser never adds that header on
  its own, so another site cannot forge one. A route that streams its form (an upload, marked
  with :func:`streams_its_form`) checks a form's token itself, from the fields before the file,
  so the app never parses its whole body first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import Scope

from darkroom.api.errors import CsrfRejected
from darkroom.social.errors import Unauthorized
from darkroom.social.viewer import Viewer, require
from darkroom.web.deps import Authenticator, get_deps

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "Auth",
    "AuthMethod",
    "CurrentViewer",
    "SignedIn",
    "attach",
    "auth_of",
    "auth_of_scope",
    "check_csrf",
    "clear_session_cookie",
    "csrf_token_for",
    "current_viewer",
    "identify",
    "set_session_cookie",
    "signed_in",
    "streams_its_form",
    "verify_csrf",
]

SESSION_COOKIE = "darkroom_session"
CSRF_COOKIE = "darkroom_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_STATE_KEY = "darkroom.auth"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_STREAMS_ITS_FORM = "_darkroom_streams_its_form"
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


class AuthMethod(StrEnum):
    NONE = "none"
    BEARER = "bearer"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class Auth:
    """A request's identity: the viewer (None: anonymous), how it was proven, and the session
    cookie's value when that was the proof (the CSRF token derives from it)."""

    viewer: Viewer | None = None
    method: AuthMethod = AuthMethod.NONE
    session: str | None = None


ANONYMOUS = Auth()


def identify(authenticator: Authenticator, headers: Headers) -> Auth:
    """The :class:`Auth` of a request's headers (blocking: the authenticator reads the database).
    Raises :class:`Unauthorized` for a malformed ``Authorization`` or an unknown bearer token."""
    header = headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization must be 'Bearer <token>'", field="Authorization")
        viewer = authenticator.authenticate(token)
        if viewer is None:
            raise Unauthorized("the bearer token is not valid (unknown, expired or revoked)", field="Authorization")
        return Auth(viewer, AuthMethod.BEARER)
    session = _cookie(headers, SESSION_COOKIE)
    if session:
        viewer = authenticator.authenticate(session)
        if viewer is not None:
            return Auth(viewer, AuthMethod.COOKIE, session)
    return ANONYMOUS


def _cookie(headers: Headers, name: str) -> str | None:
    for header in headers.getlist("cookie"):
        value = cookie_parser(header).get(name)
        if value is not None:
            return value
    return None


def attach(scope_state: dict[str, object], auth: Auth) -> None:
    """Keep ``auth`` in a request scope's ``state`` (the edge middleware does)."""
    scope_state[_STATE_KEY] = auth


def auth_of_scope(scope: Scope) -> Auth:
    """The :class:`Auth` kept in an ASGI scope (anonymous when no middleware identified it)."""
    auth = scope.get("state", {}).get(_STATE_KEY, ANONYMOUS)
    assert isinstance(auth, Auth)
    return auth


def auth_of(request: Request) -> Auth:
    """The request's :class:`Auth`."""
    return auth_of_scope(request.scope)


def current_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or None (a FastAPI dependency)."""
    return auth_of(request).viewer


def signed_in(request: Request) -> Viewer:
    """The signed-in viewer, or 401 (a FastAPI dependency)."""
    return require(auth_of(request).viewer)


CurrentViewer = Annotated[Viewer | None, Depends(current_viewer)]
SignedIn = Annotated[Viewer, Depends(signed_in)]


def csrf_token_for(secret: bytes, session: str) -> str:
    """The CSRF token of session ``session`` under the server's ``secret``."""
    digest = hmac.new(secret, b"csrf\x00" + session.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def streams_its_form(endpoint: _Endpoint) -> _Endpoint:
    """Mark a route that reads its ``multipart/form-data`` body as a stream: :func:`check_csrf`
    leaves a cookie request without the header to it, and the route calls :func:`verify_csrf` with
    the ``csrf_token`` field it finds before the file."""
    setattr(endpoint, _STREAMS_ITS_FORM, True)
    return endpoint


def _missing_token(request: Request) -> CsrfRejected:
    return CsrfRejected(
        f"a {request.method} signed in by the session cookie needs its CSRF token: send the "
        f"{CSRF_HEADER} header (the {CSRF_COOKIE} cookie's value) or a {CSRF_FIELD} form field",
        field=CSRF_HEADER,
    )


def verify_csrf(request: Request, presented: str | None) -> None:
    """Refuse (:class:`CsrfRejected`, 403) an unsafe request signed in by the session cookie whose
    ``presented`` token (the header's, else a form field's) is missing or not the session's."""
    auth = auth_of(request)
    if request.method in SAFE_METHODS or auth.method is not AuthMethod.COOKIE or auth.session is None:
        return
    presented = request.headers.get(CSRF_HEADER, presented)
    if presented is None:
        raise _missing_token(request)
    expected = csrf_token_for(get_deps(request).secret, auth.session)
    if not hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected.encode("ascii")):
        raise CsrfRejected(f"the {CSRF_HEADER} does not belong to this session", field=CSRF_HEADER)


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe request authenticated by the session cookie without its CSRF token
    (:class:`CsrfRejected`, 403). An app-wide dependency: it runs after the body is read, so a
    form's ``csrf_token`` field is already parsed (except on routes that stream their form)."""
    auth = auth_of(request)
    if request.method in SAFE_METHODS or auth.method is not AuthMethod.COOKIE or auth.session is None:
        return
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(_FORMS):
        if getattr(request.scope.get("endpoint"), _STREAMS_ITS_FORM, False):
            return  # the route checks the field before the file (verify_csrf)
        value = (await request.form()).get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    verify_csrf(request, presented)


def set_session_cookie(response: Response, request: Request, session: str, *, max_age_s: int) -> None:
    """Set the session cookie (HttpOnly, SameSite=Lax, Secure over https) and the readable
    ``darkroom_csrf`` cookie with its CSRF token (for the routes that sign a browser in)."""
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, session, max_age=max_age_s, path="/", secure=secure, httponly=True, samesite="lax"
    )
    token = csrf_token_for(get_deps(request).secret, session)
    response.set_cookie(CSRF_COOKIE, token, max_age=max_age_s, path="/", secure=secure, httponly=False, samesite="lax")


def clear_session_cookie(response: Response, request: Request) -> None:
    """Remove both cookies (signing out)."""
    secure = request.url.scheme == "https"
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="lax")
