"""Signing in and out over HTTP.

``POST /v1/sessions`` ``{"login": handle or email, "password"}`` answers 201
``{"token", "token_type": "Bearer", "expires_at", "csrf_token", "account"}`` with
``Cache-Control: no-store`` (never kept, not even for an ``Idempotency-Key`` replay), and sets the
session cookie (HttpOnly, SameSite=Lax, Secure over https) and the readable CSRF cookie. A browser
relies on the cookie and sends ``csrf_token`` back in ``X-CSRF-Token`` on writes; an API client
sends ``Authorization: Bearer <token>`` and needs no CSRF token. Too many failed logins for the
account or the address: 429 with ``Retry-After``.

``DELETE /v1/sessions/current`` revokes the credential the request came with (the cookie's
session, or the bearer token) and clears the cookies: 204, also when nobody was signed in.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Account
from darkroom.api.timestamps import timestamp_from_s
from darkroom.social import credential_cache, credentials, sessions
from darkroom.storage.db import read_only
from darkroom.web.api.reads import WHOLE_ACCOUNT, account_dicts
from darkroom.web.auth import AuthMethod, auth_of, clear_session_cookie, csrf_token_for, set_session_cookie
from darkroom.web.caching import NO_STORE, json_response
from darkroom.web.deps import Deps
from darkroom.web.edge import client_address
from darkroom.web.openapi import json_body, message_ref

__all__ = ["LogIn", "router"]

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

_SESSION = json_body(
    {
        "type": "object",
        "required": ["token", "token_type", "expires_at", "csrf_token", "account"],
        "properties": {
            "token": {"type": "string", "description": "the session's secret: `Authorization: Bearer <token>`"},
            "token_type": {"const": "Bearer"},
            "expires_at": {"type": "string", "format": "date-time"},
            "csrf_token": {"type": "string", "description": "X-CSRF-Token for writes signed in by the cookie"},
            "account": {"anyOf": [message_ref(Account.DESCRIPTOR), {"type": "null"}]},
        },
        "additionalProperties": False,
    },
    "signed in: the session token (also set as the HttpOnly cookie) and the account",
)


class LogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(description="the account's handle or email")
    password: str


@router.post("", status_code=201, responses={201: _SESSION})
def sign_in(request: Request, deps: Deps, body: LogIn) -> Response:
    """Sign in: a session token, the account, and the session and CSRF cookies."""
    # The password check (argon2id, the slow part) reads only: on SQLite it must not hold the
    # write lock, which the short second transaction takes to store the session.
    with read_only(deps.engine).begin() as conn:
        verified = sessions.verify_login(
            conn, deps.redis, login=body.login, password=body.password, address=client_address(request.scope)
        )
    with deps.engine.begin() as conn:
        session = sessions.start_session(conn, verified)
        account = account_dicts(conn, [session.viewer.account_id], session.viewer, WHOLE_ACCOUNT)
    content = {
        "token": session.secret,
        "token_type": "Bearer",
        "expires_at": timestamp_from_s(session.expires_at, "expires_at").ToJsonString(),
        "csrf_token": csrf_token_for(deps.secret, session.secret),
        "account": account[0] if account else None,
    }
    response = json_response(content, status=201, cache=NO_STORE)
    set_session_cookie(response, request, session.secret, max_age_s=max(1, int(session.expires_at - time.time())))
    return response


@router.delete("/current", status_code=204)
def sign_out(request: Request, deps: Deps) -> Response:
    """Revoke the request's session or token and clear the cookies."""
    auth = auth_of(request)
    secret: str | None = None
    if auth.method is AuthMethod.COOKIE:
        secret = auth.session
    elif auth.method is AuthMethod.BEARER:
        secret = request.headers.get("authorization", "").partition(" ")[2].strip()
    if secret:
        with credential_cache.revoking(deps.engine, deps.redis) as revocation:  # the cache told too
            credentials.logout(revocation.conn, secret)
            revocation.secret(secret)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response
