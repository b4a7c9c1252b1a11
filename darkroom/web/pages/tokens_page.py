"""``/settings/tokens``: the signed-in person's API tokens (name, scopes, created, last used),
a form that creates one (``tokens.create_token``, as ``POST /v1/tokens``) and Revoke on each
(``credentials.revoke``).

A new token's secret is on the answer to the create form only: that page is ``no-store`` and
nothing keeps the secret (the database has its SHA-256), so a reload or the list never shows it
again. ``static/settings.js`` adds a Copy button beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from darkroom.social import credential_cache, credentials, tokens
from darkroom.social.errors import SocialError
from darkroom.social.viewer import Scope, Viewer
from darkroom.storage.db import read_only
from darkroom.web.auth import CurrentViewer, SignedIn
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps, WebDeps
from darkroom.web.pages.post_page import refused
from darkroom.web.pages.post_views import ago
from darkroom.web.pages.rendering import pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.problems import HTTP_STATUSES

__all__ = ["TokenView", "router"]

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class TokenView:
    id: str
    name: str
    scopes: str
    created: str
    created_at: float
    last_used: str


def _views(found: list[tokens.TokenInfo]) -> list[TokenView]:
    return [
        TokenView(t.id, t.name, ", ".join(sorted(s.value for s in t.scopes)), ago(t.created_at), t.created_at,
                  "never" if t.last_used_at is None else ago(t.last_used_at))
        for t in found
    ]  # fmt: skip


def _page(
    request: Request,
    deps: WebDeps,
    viewer: Viewer,
    *,
    name: str = "",
    scopes: frozenset[str] = frozenset(Scope),
    error: str = "",
    issued: tokens.IssuedToken | None = None,
    status: int = 200,
) -> Response:
    with read_only(deps.engine).begin() as conn:
        found = tokens.list_tokens(conn, viewer)
    context: dict[str, Any] = {
        "tokens": _views(found),
        "name": name,
        "scopes": scopes,
        "error": error,
        "issued": issued,
        "max_name": tokens.TOKEN_NAME_MAX_CHARS,
    }
    return pages_of(request).render(request, "tokens.html", context, status=status, cache=NO_STORE)


@router.get("/settings/tokens")
def tokens_page(request: Request, deps: Deps, viewer: CurrentViewer) -> Response:
    """The tokens and the create form; signed out, a ``303`` to ``/login``."""
    if viewer is None:
        return see_other("/login")
    return _page(request, deps, viewer)


@router.post("/settings/tokens")
def create_token(
    request: Request,
    deps: Deps,
    viewer: SignedIn,
    name: Annotated[str, Form()] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A new token: the page again with its secret, shown this once (``201``)."""
    asked = scopes or []
    try:
        with deps.engine.begin() as conn:
            issued = tokens.create_token(conn, viewer, name=name, scopes=asked)
    except SocialError as exc:
        status = HTTP_STATUSES.status(exc)
        return _page(request, deps, viewer, name=name, scopes=frozenset(asked), error=str(exc), status=status)
    return _page(request, deps, viewer, issued=issued, status=201)


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, deps: Deps, viewer: SignedIn) -> Response:
    """Revoke one of the person's tokens (again: nothing changes); back to the list."""
    try:
        with credential_cache.revoking(deps.engine, deps.redis) as revocation:  # the cache told too
            credentials.revoke(revocation.conn, viewer, token_id)
            revocation.credential(token_id)
    except SocialError as exc:
        return refused(request, exc)
    return see_other("/settings/tokens")
