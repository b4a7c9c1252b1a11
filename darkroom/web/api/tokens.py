"""API tokens over HTTP: ``POST /v1/tokens`` ``{"name", "scopes": ["read", "write"], "expires_in_s"?}``
answers 201 with the secret, shown this once (``Cache-Control: no-store``); ``GET /v1/tokens``
lists the signed-in account's working tokens (never their secrets); ``DELETE /v1/tokens/{id}``
revokes one (204). A token cannot grant scopes its creator lacks: a read-only token makes none.

A token is ``{"id", "name", "scopes", "created_at", "last_used_at", "expires_at"}`` (times RFC 3339,
``null`` when unset), plus ``"token"`` when it is created.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from darkroom.api.timestamps import timestamp_from_s
from darkroom.social import credential_cache, credentials, tokens
from darkroom.social.viewer import Scope
from darkroom.storage.db import read_only
from darkroom.web.api.reads import answer_page
from darkroom.web.auth import SignedIn
from darkroom.web.caching import CONDITIONAL_RESPONSES, NO_STORE, PRIVATE_REVALIDATE, json_response
from darkroom.web.deps import Deps
from darkroom.web.openapi import json_body, page_schema

__all__ = ["NewToken", "router"]

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])

_MOMENT = {"type": ["string", "null"], "format": "date-time"}
_TOKEN: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "scopes", "created_at", "last_used_at", "expires_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "scopes": {"type": "array", "items": {"enum": [scope.value for scope in Scope]}},
        "created_at": {"type": "string", "format": "date-time"},
        "last_used_at": _MOMENT,
        "expires_at": _MOMENT,
    },
    "additionalProperties": False,
}
_NEW_TOKEN = {
    **_TOKEN,
    "required": [*_TOKEN["required"], "token"],
    "properties": {**_TOKEN["properties"], "token": {"type": "string", "description": "the secret, shown this once"}},
}


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description=f"1-{tokens.TOKEN_NAME_MAX_CHARS} characters, for its owner's list")
    scopes: list[str] = Field(
        description="read, write, or both", json_schema_extra={"items": {"enum": ["read", "write"]}}
    )
    expires_in_s: float | None = Field(default=None, description="seconds until it stops working (default: never)")


def _time(t: float | None, name: str) -> str | None:
    return None if t is None else timestamp_from_s(t, name).ToJsonString()


def _token(
    id_: str, name: str, scopes: frozenset[Scope], created_at: float, expires_at: float | None
) -> dict[str, Any]:
    return {
        "id": id_,
        "name": name,
        "scopes": sorted(s.value for s in scopes),
        "created_at": _time(created_at, "created_at"),
        "expires_at": _time(expires_at, "expires_at"),
    }


@router.post("", status_code=201, responses={201: json_body(_NEW_TOKEN, "the new token and its secret")})
def create_token(deps: Deps, viewer: SignedIn, body: NewToken) -> Response:
    """A new token of the signed-in account; its secret is in ``token``, here only."""
    with deps.engine.begin() as conn:
        issued = tokens.create_token(conn, viewer, name=body.name, scopes=body.scopes, expires_in_s=body.expires_in_s)
    content = _token(issued.credential_id, issued.name, issued.scopes, issued.created_at, issued.expires_at)
    content |= {"last_used_at": None, "token": issued.secret}
    return json_response(content, status=201, cache=NO_STORE)


@router.get("", responses={200: json_body(page_schema(_TOKEN), "the working tokens"), **CONDITIONAL_RESPONSES})
def list_tokens(request: Request, deps: Deps, viewer: SignedIn) -> Response:
    """The signed-in account's tokens that still work, newest first (one page: ``next_cursor`` is null)."""
    with read_only(deps.engine).begin() as conn:
        found = tokens.list_tokens(conn, viewer)
    items = [
        _token(t.id, t.name, t.scopes, t.created_at, t.expires_at) | {"last_used_at": _time(t.last_used_at, "used")}
        for t in found
    ]
    return answer_page(request, items, None, cache=PRIVATE_REVALIDATE)


@router.delete("/{token_id}", status_code=204)
def revoke_token(deps: Deps, viewer: SignedIn, token_id: str) -> Response:
    """Revoke one of the signed-in account's tokens (again: fine; someone else's: 404)."""
    with credential_cache.revoking(deps.engine, deps.redis) as revocation:  # the cache told too
        credentials.revoke(revocation.conn, viewer, token_id)
        revocation.credential(token_id)
    return Response(status_code=204)
