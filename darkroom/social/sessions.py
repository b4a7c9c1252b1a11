"""Sessions: signing a browser in with a handle or email and a password, and the session's CSRF
token for form posts.

:func:`login` is :func:`verify_login` (reads only; throttled per account and per address by
:mod:`~darkroom.social.login_throttle`), then :func:`start_session` (writes). Failures never say
whether the account exists, and an unknown one spends the time of a real password check on a
dummy hash. Identifying a session's secret later, and logging out, are
:mod:`~darkroom.social.credentials`' (the same for sessions and tokens).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from redis import Redis

from darkroom.social import login_throttle, passwords
from darkroom.social.accounts import AccountRow, touch_last_seen
from darkroom.social.credentials import MAX_SECRET_CHARS, CredentialKind, digest, new_secret, scopes_text
from darkroom.social.errors import AccountDisabled, InvalidInput, LoginFailed
from darkroom.social.handles import lookup_handle, normalize_email
from darkroom.social.ids import new_id
from darkroom.social.login_throttle import LoginThrottle
from darkroom.social.viewer import Scope, Viewer
from darkroom.storage.schema import accounts, credentials

__all__ = [
    "SESSION_TTL_S",
    "Session",
    "VerifiedLogin",
    "check_csrf",
    "login",
    "start_session",
    "verify_login",
]

SESSION_TTL_S = 30 * 86400.0
_DEFAULT_THROTTLE = LoginThrottle()  # frozen, so one default is shared safely


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser. ``secret`` (the cookie's value) is shown here once and stored nowhere."""

    credential_id: str
    secret: str = field(repr=False)
    csrf_token: str = field(repr=False)
    viewer: Viewer
    expires_at: float


@dataclass(frozen=True, slots=True)
class VerifiedLogin:
    """A login whose password matched (:func:`verify_login`): whom to open a session for, and the
    password's new hash when its parameters are outdated."""

    account: AccountRow
    new_hash: str | None = field(default=None, repr=False)


def login(
    conn: sa.Connection,
    redis: Redis,
    *,
    login: str,
    password: str,
    address: str,
    now: float | None = None,
    throttle: LoginThrottle = _DEFAULT_THROTTLE,
    session_ttl_s: float = SESSION_TTL_S,
) -> Session:
    """A new session for the account whose handle or email is ``login``, from ``address`` (the
    client's IP): :func:`verify_login`, then :func:`start_session`, in one transaction."""
    verified = verify_login(conn, redis, login=login, password=password, address=address, throttle=throttle)
    return start_session(conn, verified, now=now, session_ttl_s=session_ttl_s)


def verify_login(
    conn: sa.Connection,
    redis: Redis,
    *,
    login: str,
    password: str,
    address: str,
    throttle: LoginThrottle = _DEFAULT_THROTTLE,
) -> VerifiedLogin:
    """Check ``login`` and ``password`` from ``address``; reads only (the throttle counts in
    Redis), so a caller on SQLite runs this slow part (argon2id) without the write lock.
    :class:`LoginFailed` for any wrong value, :class:`LoginThrottled` after too many failures for
    the account or the address, :class:`AccountDisabled` for a disabled account's right password."""
    account = _find_for_login(conn, login)
    fails = login_throttle.counters(account.id if account else None, login, address)
    login_throttle.refuse_if_throttled(redis, fails, throttle)
    if account is None:
        passwords.verify_dummy(password)
        match = None
    else:
        match = passwords.verify_password(account.password_hash, password)
    if account is None or match is None:
        login_throttle.count_failure(redis, fails, throttle)
        raise LoginFailed("wrong handle, email or password", field="login")
    login_throttle.clear_account(redis, fails)
    if account.disabled:
        raise AccountDisabled(f"@{account.handle} is disabled; ask an admin")
    return VerifiedLogin(account, match.new_hash)


def start_session(
    conn: sa.Connection, verified: VerifiedLogin, *, now: float | None = None, session_ttl_s: float = SESSION_TTL_S
) -> Session:
    """Open a session for a :func:`verify_login` (writes: the credential, a rehashed password)."""
    moment = time.time() if now is None else now
    account = verified.account
    _still_as_verified(conn, account)
    if verified.new_hash is not None:  # only over the hash that was checked (the row is locked)
        conn.execute(sa.update(accounts).where(accounts.c.id == account.id).values(password_hash=verified.new_hash))
    secret, csrf = new_secret(CredentialKind.SESSION), secrets.token_urlsafe(32)
    viewer = Viewer(account_id=account.id, handle=account.handle, scopes=frozenset(Scope), role=account.role)
    credential_id = new_id()
    conn.execute(
        sa.insert(credentials).values(
            id=credential_id,
            account_id=account.id,
            kind=CredentialKind.SESSION.value,
            secret_sha256=digest(secret),
            scopes=scopes_text(viewer.scopes),
            name="",
            csrf_token=csrf,
            created_at=moment,
            last_used_at=moment,
            expires_at=moment + session_ttl_s,
            revoked_at=None,
        )
    )
    touch_last_seen(conn, account.id, now=moment)
    return Session(credential_id, secret, csrf, viewer, moment + session_ttl_s)


def _still_as_verified(conn: sa.Connection, account: AccountRow) -> None:
    """Refuse a login whose password check is stale: a new password, a disabling or a deletion
    committed since :func:`verify_login` read the account (they revoke every credential, so a
    session written after them would outlive them). The row stays locked to the commit (on
    PostgreSQL; SQLite's writers are serialised), so such a change either sees this session, and
    revokes it, or is seen here."""
    current = conn.execute(
        sa.select(accounts.c.password_hash, accounts.c.disabled, accounts.c.deleted_at)
        .where(accounts.c.id == account.id)
        .with_for_update()
    ).first()
    if current is None or current.password_hash != account.password_hash or current.deleted_at is not None:
        raise LoginFailed("wrong handle, email or password", field="login")
    if current.disabled:
        raise AccountDisabled(f"@{account.handle} is disabled; ask an admin")


def check_csrf(conn: sa.Connection, secret: str | None, csrf_token: str | None) -> bool:
    """Whether ``csrf_token`` (from a form post) is the CSRF token of the session ``secret``."""
    if not isinstance(secret, str) or not isinstance(csrf_token, str) or not secret or not csrf_token:
        return False
    if len(secret) > MAX_SECRET_CHARS:
        return False
    stored = conn.execute(
        sa.select(credentials.c.csrf_token).where(
            credentials.c.secret_sha256 == digest(secret),
            credentials.c.kind == CredentialKind.SESSION.value,
            credentials.c.revoked_at.is_(None),
        )
    ).scalar()
    return stored is not None and hmac.compare_digest(stored.encode(), csrf_token.encode())


def _find_for_login(conn: sa.Connection, login: str) -> AccountRow | None:
    """The account (disabled ones too) whose handle or email is ``login``; ``None`` when none is."""
    if not isinstance(login, str):
        return None
    if "@" in login:
        try:
            condition = accounts.c.email == normalize_email(login)
        except InvalidInput:
            return None
    else:
        handle = lookup_handle(login)
        if handle is None:
            return None
        condition = accounts.c.handle == handle
    row = conn.execute(sa.select(accounts).where(condition, accounts.c.deleted_at.is_(None))).first()
    return None if row is None else AccountRow.from_row(row)
