"""Credentials: the sessions (browsers) and tokens (API clients) that sign people in, as opaque
secrets stored only as SHA-256 digests; who a secret belongs to; revoking one.

- A secret is 32 random bytes (``secrets.token_urlsafe``) after a prefix that says what it is
  (``drs_`` a session, ``drt_`` a token), so secret scanners and people can recognise a leaked one.
  The database holds its SHA-256 only: a stolen table signs nobody in. A plain digest is enough
  (no slow hash): the secret has 256 bits of entropy, nothing to guess.
- Sessions (:mod:`~darkroom.social.sessions`: login, throttled by
  :mod:`~darkroom.social.login_throttle`) carry both scopes and a CSRF token for form posts, and
  expire (30 days). Tokens (:mod:`~darkroom.social.tokens`) carry the scopes asked for (``read``,
  ``write``) and expire only if asked to. Both are revocable; setting a password, disabling or
  deleting an account revokes all of its credentials.
- Every request calls :func:`identify`, a read; :func:`note_use` writes about once a minute per
  credential.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from darkroom.social.accounts import LAST_SEEN_EVERY_S, live, touch_last_seen
from darkroom.social.errors import NotFound, Unauthorized
from darkroom.social.ids import check_id
from darkroom.social.viewer import Role, Scope, Viewer, require_write
from darkroom.storage.schema import accounts, credentials

__all__ = [
    "LAST_USED_EVERY_S",
    "MAX_SECRET_CHARS",
    "CredentialKind",
    "Identified",
    "authenticate",
    "digest",
    "identify",
    "identify_row",
    "is_stale_use",
    "logout",
    "new_secret",
    "note_use",
    "note_uses",
    "parse_scopes",
    "require_live",
    "revoke",
    "scopes_text",
]

LAST_USED_EVERY_S = 60.0  # last_used_at is for people reviewing their tokens: a minute is precise enough
MAX_SECRET_CHARS = 100  # longer is no secret of ours: refused before any lookup


class CredentialKind(StrEnum):
    SESSION = "session"
    TOKEN = "token"


_PREFIX = {CredentialKind.SESSION: "drs_", CredentialKind.TOKEN: "drt_"}


def new_secret(kind: CredentialKind) -> str:
    """A new secret of ``kind``: its prefix, then 32 random bytes."""
    return _PREFIX[kind] + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the database holds of ``secret``."""
    return hashlib.sha256(secret.encode()).hexdigest()


def scopes_text(scopes: Iterable[Scope]) -> str:
    """``scopes`` as the ``credentials.scopes`` column holds them."""
    return " ".join(sorted(s.value for s in scopes))


def parse_scopes(text: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in text.split())


# -- checking credentials --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Identified:
    """Who a credential belongs to, and whether its use should be noted (:func:`note_use`)."""

    viewer: Viewer
    credential_id: str
    stale_use: bool  # last_used_at is older than LAST_USED_EVERY_S


_IDENTIFY = (
    sa.select(
        credentials.c.id,
        credentials.c.scopes,
        credentials.c.last_used_at,
        credentials.c.expires_at,
        accounts.c.id.label("account_id"),
        accounts.c.handle,
        accounts.c.role,
    )
    .join(accounts, accounts.c.id == credentials.c.account_id)
    .where(
        credentials.c.secret_sha256 == sa.bindparam("digest", type_=sa.String),
        credentials.c.revoked_at.is_(None),
        sa.or_(
            credentials.c.expires_at.is_(None),
            credentials.c.expires_at > sa.bindparam("now", type_=credentials.c.expires_at.type),
        ),
        live(),
    )
)  # built once: every request runs it, and building a statement costs twice what running it does


def identify(conn: sa.Connection, secret: str | None, *, now: float | None = None) -> Identified | None:
    """Read only: who a session cookie or bearer token belongs to; ``None`` for an unknown, expired
    or revoked secret or a deleted or disabled account. Every request calls this, so it must not
    take the database's write lock; :func:`note_use` writes, about once a minute per credential."""
    found = identify_row(conn, secret, now=now)
    return None if found is None else found[0]


def identify_row(
    conn: sa.Connection, secret: str | None, *, now: float | None = None
) -> tuple[Identified, float | None, float | None] | None:
    """:func:`identify`, with the credential's ``expires_at`` and ``last_used_at`` (None: never;
    what the credential cache keeps)."""
    if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_CHARS:
        return None
    moment = time.time() if now is None else now
    row = conn.execute(_IDENTIFY, {"digest": digest(secret), "now": moment}).first()
    if row is None:
        return None
    viewer = Viewer(row.account_id, row.handle, parse_scopes(row.scopes), Role(row.role), credential_id=row.id)
    return Identified(viewer, row.id, is_stale_use(row.last_used_at, moment)), row.expires_at, row.last_used_at


def is_stale_use(last_used_at: float | None, now: float) -> bool:
    """Whether a credential last used at ``last_used_at`` should have its use noted again."""
    return last_used_at is None or last_used_at <= now - LAST_USED_EVERY_S


def note_use(conn: sa.Connection, found: Identified, *, now: float | None = None) -> None:
    """Record that ``found``'s credential was used (its ``last_used_at``, the account's last seen)."""
    moment = time.time() if now is None else now
    conn.execute(sa.update(credentials).where(credentials.c.id == found.credential_id).values(last_used_at=moment))
    touch_last_seen(conn, found.viewer.account_id, now=moment)


def note_uses(conn: sa.Connection, found: Collection[Identified], *, now: float | None = None) -> None:
    """:func:`note_use` for many credentials at once: two statements, whatever their number (a
    server notes its requests' credentials in batches, off their path)."""
    if not found:
        return
    moment = time.time() if now is None else now
    ids = sorted({f.credential_id for f in found})
    conn.execute(sa.update(credentials).where(credentials.c.id.in_(ids)).values(last_used_at=moment))
    accounts_seen = sorted({f.viewer.account_id for f in found})
    conn.execute(
        sa.update(accounts)
        .where(
            accounts.c.id.in_(accounts_seen),
            sa.or_(accounts.c.last_seen_at.is_(None), accounts.c.last_seen_at <= moment - LAST_SEEN_EVERY_S),
        )
        .values(last_seen_at=moment)
    )


def authenticate(conn: sa.Connection, secret: str | None, *, now: float | None = None) -> Viewer | None:
    """:func:`identify`, then :func:`note_use` when due, in the caller's (writable) transaction."""
    found = identify(conn, secret, now=now)
    if found is None:
        return None
    if found.stale_use:
        note_use(conn, found, now=now)
    return found.viewer


def require_live(conn: sa.Connection, viewer: Viewer) -> None:
    """Before a write that mints a credential for ``viewer``: the credential it was identified by is
    still live, else :class:`Unauthorized` (a request identified just before a new password, a
    disabling or a revocation committed). The account's row is locked to the commit (on
    PostgreSQL; SQLite's writers are serialised) and those revocations update it first, so they
    either see the new credential, and revoke it, or are seen here."""
    if viewer.credential_id is None:
        return  # the operator, acting on the database itself
    conn.execute(sa.select(accounts.c.id).where(accounts.c.id == viewer.account_id).with_for_update(read=True))
    now = time.time()
    alive = conn.execute(
        sa.select(credentials.c.id).where(
            credentials.c.id == viewer.credential_id,
            credentials.c.revoked_at.is_(None),
            sa.or_(credentials.c.expires_at.is_(None), credentials.c.expires_at > now),
        )
    ).first()
    if alive is None:
        raise Unauthorized("this session or token was revoked or expired: sign in again", field="authorization")


# -- revocation ------------------------------------------------------------------------------------
def revoke(conn: sa.Connection, viewer: Viewer | None, credential_id: str) -> None:
    """Revoke one of the viewer's sessions or tokens (an admin: anyone's). Revoking twice is fine;
    someone else's credential is not found."""
    who = require_write(viewer)
    check_id(credential_id, field="credential_id")
    owner = conn.execute(sa.select(credentials.c.account_id).where(credentials.c.id == credential_id)).scalar()
    if owner is None or (owner != who.account_id and not who.admin):
        raise NotFound(f"no credential {credential_id}", field="credential_id")
    conn.execute(
        sa.update(credentials)
        .where(credentials.c.id == credential_id, credentials.c.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )


def logout(conn: sa.Connection, secret: str | None) -> None:
    """Revoke the session or token ``secret``; an unknown one is already as good as logged out."""
    if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_CHARS:
        return
    conn.execute(
        sa.update(credentials)
        .where(credentials.c.secret_sha256 == digest(secret), credentials.c.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )
