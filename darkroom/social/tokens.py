"""API tokens: created by their owner with the scopes asked for (no more than the creator holds),
named for the owner's list, expiring only if asked to. A token is sent as ``Authorization:
Bearer``; checking and revoking one are :mod:`~darkroom.social.credentials`' (as for sessions).
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from darkroom.social.credentials import CredentialKind, digest, new_secret, parse_scopes, require_live, scopes_text
from darkroom.social.errors import Forbidden, InvalidInput
from darkroom.social.ids import new_id
from darkroom.social.viewer import Scope, Viewer, require, require_write
from darkroom.storage.schema import credentials

__all__ = ["TOKEN_NAME_MAX_CHARS", "IssuedToken", "TokenInfo", "create_token", "list_tokens"]

TOKEN_NAME_MAX_CHARS = 100


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new API token. ``secret`` (sent as ``Authorization: Bearer``) is shown here once."""

    credential_id: str
    secret: str = field(repr=False)
    name: str
    scopes: frozenset[Scope]
    created_at: float
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as its owner reviews it (never its secret)."""

    id: str
    name: str
    scopes: frozenset[Scope]
    created_at: float
    last_used_at: float | None
    expires_at: float | None


def create_token(
    conn: sa.Connection,
    viewer: Viewer | None,
    *,
    name: str,
    scopes: Iterable[Scope | str],
    expires_in_s: float | None = None,
) -> IssuedToken:
    """A new API token of the viewer's account with ``scopes`` (no more than the viewer holds),
    named for its owner's list, expiring after ``expires_in_s`` if given."""
    who = require_write(viewer)
    label = _check_name(name)
    wanted = _check_scopes(scopes)
    if not wanted <= who.scopes:
        raise Forbidden(f"these credentials cannot grant the scopes {scopes_text(wanted - who.scopes)!r}")
    if expires_in_s is not None and not (isinstance(expires_in_s, int | float) and 0 < expires_in_s < math.inf):
        raise InvalidInput(f"expires_in_s {expires_in_s!r} is not a positive number of seconds", field="expires_in_s")
    require_live(conn, who)  # a request identified before a revocation committed mints nothing
    moment = time.time()
    expires_at = None if expires_in_s is None else moment + expires_in_s
    secret, credential_id = new_secret(CredentialKind.TOKEN), new_id()
    conn.execute(
        sa.insert(credentials).values(
            id=credential_id,
            account_id=who.account_id,
            kind=CredentialKind.TOKEN.value,
            secret_sha256=digest(secret),
            scopes=scopes_text(wanted),
            name=label,
            csrf_token=None,
            created_at=moment,
            last_used_at=None,
            expires_at=expires_at,
            revoked_at=None,
        )
    )
    return IssuedToken(credential_id, secret, label, wanted, moment, expires_at)


def list_tokens(conn: sa.Connection, viewer: Viewer | None) -> list[TokenInfo]:
    """The viewer's tokens that still work, newest first."""
    who = require(viewer)
    rows = conn.execute(
        sa.select(credentials)
        .where(
            credentials.c.account_id == who.account_id,
            credentials.c.kind == CredentialKind.TOKEN.value,
            credentials.c.revoked_at.is_(None),
            sa.or_(credentials.c.expires_at.is_(None), credentials.c.expires_at > time.time()),
        )
        .order_by(credentials.c.id.desc())
    )
    return [TokenInfo(r.id, r.name, parse_scopes(r.scopes), r.created_at, r.last_used_at, r.expires_at) for r in rows]


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidInput(f"name must be a string, not {type(name).__name__}", field="name")
    label = name.strip()
    if not 1 <= len(label) <= TOKEN_NAME_MAX_CHARS:
        raise InvalidInput(
            f"token name {name[:40]!r} is {len(label)} characters long: use 1 to {TOKEN_NAME_MAX_CHARS}", field="name"
        )
    if any(unicodedata.category(ch) == "Cc" for ch in label):
        raise InvalidInput(f"token name {label[:40]!r} contains a control character", field="name")
    return label


def _check_scopes(scopes: Iterable[Scope | str]) -> frozenset[Scope]:
    if isinstance(scopes, str):
        scopes = scopes.replace(",", " ").split()
    found: set[Scope] = set()
    for raw in scopes:
        try:
            found.add(Scope(raw))
        except ValueError:
            raise InvalidInput(
                f"scope {raw!r} is not one of {', '.join(s.value for s in Scope)}", field="scopes"
            ) from None
    if not found:
        raise InvalidInput("scopes is empty: ask for read, write or both", field="scopes")
    return frozenset(found)
