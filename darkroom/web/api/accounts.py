"""Accounts over HTTP: sign up, read a profile, edit one's own (AIP-134: the Account as the body,
``update_mask`` in the query, ``If-Match`` for optimistic concurrency), delete it.

| route | answer |
|---|---|
| ``POST /v1/accounts`` ``{"handle", "email", "password"}`` | 201, the Account, ``Location`` |
| ``GET /v1/accounts/me`` · ``GET /v1/accounts/{handle}`` | the Account with the viewer fields; ``fields=`` |
| ``PATCH /v1/accounts/me?update_mask=…`` | the edited Account (``display_name``, ``bio``, ``private``) |
| ``DELETE /v1/accounts/me`` | 204, the session cookie cleared |
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Account
from darkroom.social import account_edits, account_lifecycle, accounts, credential_cache
from darkroom.social.errors import NotFound
from darkroom.social.viewer import require_write
from darkroom.storage.db import read_only
from darkroom.web.api.reads import WHOLE_ACCOUNT, AccountMask, account_dicts, answer, cache_for, check_version
from darkroom.web.auth import CurrentViewer, SignedIn, clear_session_cookie
from darkroom.web.bodies import UPDATE_MASK_PARAMETER, parse_resource, update_paths
from darkroom.web.caching import CONDITIONAL_RESPONSES, PRIVATE_REVALIDATE, json_response
from darkroom.web.deps import Deps
from darkroom.web.openapi import resource

__all__ = ["SignUp", "router"]

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
_ACCOUNT = resource(Account.DESCRIPTOR, "the account, with the viewer fields (proto3 JSON)")


class SignUp(BaseModel):
    """A sign-up. The rules (handles, emails, passwords) are the domain's: a 400 names what breaks one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"handle": "ada_l", "email": "ada@example.com", "password": "analytical engine"}]
        },
    )

    handle: str = Field(description="1-30 of a-z, 0-9 and _ (NFKC-folded, lower-cased); look-alikes are refused")
    email: str = Field(description="an email address (checked for shape only)")
    password: str = Field(description="8-256 characters")


@router.post("", status_code=201, responses={201: resource(Account.DESCRIPTOR, "the new account")})
def sign_up(request: Request, deps: Deps, body: SignUp) -> Response:
    """Sign up. The account is public; sign in with ``POST /v1/sessions``."""
    # argon2 (the slow part) before the transaction: on SQLite that holds the write lock
    new = account_lifecycle.prepare_account(handle=body.handle, email=body.email, password=body.password)
    with deps.engine.begin() as conn:
        row = account_lifecycle.insert_account(conn, new)
        created = account_dicts(conn, [row.id], None, WHOLE_ACCOUNT)[0]
    return json_response(created, status=201, headers={"Location": f"/v1/accounts/{row.handle}"})


@router.get("/me", responses={200: _ACCOUNT, **CONDITIONAL_RESPONSES})
def get_me(request: Request, deps: Deps, viewer: SignedIn, mask: AccountMask) -> Response:
    """The signed-in account; its ETag serves ``If-Match`` on ``PATCH /v1/accounts/me``."""
    with read_only(deps.engine).begin() as conn:
        row = accounts.get_account(conn, viewer.handle)
        found = account_dicts(conn, [row.id], viewer, mask)
    return answer(request, found[0], cache=PRIVATE_REVALIDATE, version=row.version)


@router.get("/{handle}", responses={200: _ACCOUNT, **CONDITIONAL_RESPONSES})
def get_profile(request: Request, deps: Deps, handle: str, viewer: CurrentViewer, mask: AccountMask) -> Response:
    """A profile, with how the viewer relates to it. An account that blocks the viewer is 404, like
    a missing one; one the viewer blocks stays readable (``blocked_by_me``) so it can be unblocked."""
    with read_only(deps.engine).begin() as conn:
        row = accounts.get_account(conn, handle)
        found = account_dicts(conn, [row.id], viewer, mask)
    if not found:
        raise NotFound(f"no account {handle!r}", field="handle")
    return answer(request, found[0], cache=cache_for(viewer), version=row.version)


_PATCH_BODY = Body(
    description=(
        "the Account (proto3 JSON): only the fields named in update_mask are written (display_name, bio, "
        "private); a masked field left out is cleared; other fields of Account are ignored, unknown keys are a 400"
    ),
    openapi_examples={"rename": {"value": {"display_name": "Alice", "bio": "film and light"}}},
)
_UPDATE_MASK = Query(
    alias=UPDATE_MASK_PARAMETER,
    description="comma-separated fields to change: display_name, bio, private, avatar, or * for all (required)",
    openapi_examples={"rename": {"value": "display_name,bio"}},
)


@router.patch("/me", responses={200: _ACCOUNT, 412: CONDITIONAL_RESPONSES[412]})
def update_me(
    request: Request,
    deps: Deps,
    viewer: SignedIn,
    body: Annotated[dict[str, Any], _PATCH_BODY],
    update_mask: Annotated[str | None, _UPDATE_MASK] = None,
) -> Response:
    """Edit the signed-in account. ``If-Match`` with an ETag of the account (from any read of it,
    with any ``fields``) makes the edit conditional: 412 when the account changed since."""
    who = require_write(viewer)
    message = parse_resource(body, Account)
    paths = update_paths(update_mask, Account.DESCRIPTOR, account_edits.UPDATABLE_FIELDS)
    changes = account_edits.AccountChanges(
        display_name=message.display_name, bio=message.bio, private=message.private, avatar_upload_id=message.avatar.id
    )
    with deps.engine.begin() as conn:
        expected = None
        if "if-match" in request.headers:
            expected = accounts.get_account(conn, who.handle).version
            check_version(request, expected)
        # the update compares the version again in its UPDATE, so a writer in between still loses
        edited = account_edits.update_account(conn, who, changes, paths, expected_version=expected)
        shown = account_dicts(conn, [who.account_id], who, WHOLE_ACCOUNT)[0]
    return answer(request, shown, cache=PRIVATE_REVALIDATE, version=edited.version)


@router.delete("/me", status_code=204)
def delete_me(request: Request, deps: Deps, viewer: SignedIn) -> Response:
    """Delete the signed-in account (soft: its handle and email stay taken; its media are purged
    later). Every session and token of it stops working."""
    with credential_cache.revoking(deps.engine, deps.redis) as revocation:  # the cache told too
        account_lifecycle.delete_account(revocation.conn, viewer)
        revocation.account(viewer.account_id)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response
