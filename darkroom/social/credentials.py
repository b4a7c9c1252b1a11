"""Sessions (browsers) and tokens (API clients): opaque secrets, stored only as SHA-256 digests.

- A secret is 32 random bytes (``secrets.token_urlsafe``) after a prefix that says what it is
  (``drs_`` a session, ``drt_`` a token), so secret scanners and people can recognise a leaked one.
  The database holds its SHA-256 only: a stolen table signs nobody in. A plain digest is enough
  (no slow hash): the secret has 256 bits of entropy, nothing to guess.
- Sessions carry both scopes and a CSRF token for form posts, and expire (30 days). Tokens carry
  the scopes asked for (``read``, ``write``) and expire only if asked to. Both are revocable;
  setting a password, disabling or deleting an account revokes all of its credentials.
- :func:`login` is throttled per account and per address in Redis (fixed windows; see
  :class:`LoginThrottle`): one round trip to check, one to count a failure, one to clear the
  account's count on success. Failures never say whether the account exists, and an unknown one
  spends the time of a real password check on a dummy hash.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import time
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import sqlalchemy as sa
from redis import Redis

from darkroom.social import keys, passwords
from darkroom.social.accounts import LAST_SEEN_EVERY_S, AccountRow, live, touch_last_seen
from darkroom.social.errors import AccountDisabled, Forbidden, InvalidInput, LoginFailed, LoginThrottled, NotFound
from darkroom.social.handles import lookup_handle, normalize_email
from darkroom.social.ids import check_id, new_id
from darkroom.social.viewer import Role, Scope, Viewer, require, require_write
from darkroom.storage.schema import accounts, credentials

__all__ = [
    "LAST_USED_EVERY_S",
    "SESSION_TTL_S",
    "TOKEN_NAME_MAX_CHARS",
    "CredentialKind",
    "Identified",
    "IssuedToken",
    "LoginThrottle",
    "Session",
    "TokenInfo",
    "VerifiedLogin",
    "authenticate",
    "check_csrf",
    "create_token",
    "identify",
    "list_tokens",
    "note_use",
    "note_uses",
    "login",
    "logout",
    "revoke",
    "start_session",
    "verify_login",
]

SESSION_TTL_S = 30 * 86400.0
LAST_USED_EVERY_S = 60.0  # last_used_at is for people reviewing their tokens: a minute is precise enough
TOKEN_NAME_MAX_CHARS = 100
_MAX_SECRET_CHARS = 100
_PREFIX = {"session": "drs_", "token": "drt_"}


class CredentialKind(StrEnum):
    SESSION = "session"
    TOKEN = "token"


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """Failed logins allowed per account and per address within ``window_s`` (counted from the
    first failure); one more and logins are refused until the window ends."""

    account_failures: int = 10
    address_failures: int = 50
    window_s: int = 900


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser. ``secret`` (the cookie's value) is shown here once and stored nowhere."""

    credential_id: str
    secret: str = field(repr=False)
    csrf_token: str = field(repr=False)
    viewer: Viewer
    expires_at: float


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


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _scopes_text(scopes: Iterable[Scope]) -> str:
    return " ".join(sorted(s.value for s in scopes))


def _parse_scopes(text: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in text.split())


# -- login -----------------------------------------------------------------------------------------
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
    throttle: LoginThrottle = LoginThrottle(),  # frozen, so one default is shared safely
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
    throttle: LoginThrottle = LoginThrottle(),
) -> VerifiedLogin:
    """Check ``login`` and ``password`` from ``address``; reads only (the throttle counts in
    Redis), so a caller on SQLite runs this slow part (argon2id) without the write lock.
    :class:`LoginFailed` for any wrong value, :class:`LoginThrottled` after too many failures for
    the account or the address, :class:`AccountDisabled` for a disabled account's right password."""
    account = _find_for_login(conn, login)
    fails = (
        keys.login_fails_account(account.id if account else _unknown_subject(login)),
        keys.login_fails_ip(_subnet(address)),
    )
    _refuse_if_throttled(redis, fails, throttle)
    if account is None:
        passwords.verify_dummy(password)
        match = None
    else:
        match = passwords.verify_password(account.password_hash, password)
    if account is None or match is None:
        _count_failure(redis, fails, throttle)
        raise LoginFailed("wrong handle, email or password", field="login")
    redis.delete(fails[0])  # the address's count stays: one good account must not reset a spray
    if account.disabled:
        raise AccountDisabled(f"@{account.handle} is disabled; ask an admin")
    return VerifiedLogin(account, match.new_hash)


def start_session(
    conn: sa.Connection, verified: VerifiedLogin, *, now: float | None = None, session_ttl_s: float = SESSION_TTL_S
) -> Session:
    """Open a session for a :func:`verify_login` (writes: the credential, a rehashed password)."""
    moment = time.time() if now is None else now
    account = verified.account
    if verified.new_hash is not None:
        conn.execute(sa.update(accounts).where(accounts.c.id == account.id).values(password_hash=verified.new_hash))
    secret, csrf = _PREFIX["session"] + secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    viewer = Viewer(account_id=account.id, handle=account.handle, scopes=frozenset(Scope), role=account.role)
    credential_id = new_id()
    conn.execute(
        sa.insert(credentials).values(
            id=credential_id,
            account_id=account.id,
            kind=CredentialKind.SESSION.value,
            secret_sha256=_digest(secret),
            scopes=_scopes_text(viewer.scopes),
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


def _unknown_subject(login: object) -> str:
    """The throttle's stand-in id for a login that names no account: a digest of what was typed,
    so unknown names are throttled exactly like real ones and the throttle tells nothing either."""
    text = unicodedata.normalize("NFKC", login).strip().lower() if isinstance(login, str) else repr(login)
    return "unknown-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _subnet(address: str) -> str:
    """What one client is: an IPv4 address, or an IPv6 /64 (a single host usually holds a whole
    /64, so counting single v6 addresses would let it try 2^64 times as often)."""
    text = address.strip().lower() if isinstance(address, str) else ""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:100] or "unknown"  # not an IP (a test client, a unix socket): counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _refuse_if_throttled(client: Redis, fails: tuple[str, str], throttle: LoginThrottle) -> None:
    pipe = client.pipeline(transaction=False)
    for key in fails:
        pipe.get(key)
        pipe.pttl(key)
    account_n, account_ttl, address_n, address_ttl = pipe.execute()
    waits = [
        ttl
        for n, ttl, limit in (
            (account_n, account_ttl, throttle.account_failures),
            (address_n, address_ttl, throttle.address_failures),
        )
        if n is not None and int(n) >= limit
    ]
    if waits:
        retry_after_s = max(math.ceil(t / 1000) if t > 0 else throttle.window_s for t in waits)
        raise LoginThrottled(f"too many failed logins; try again in {retry_after_s} s", retry_after_s=retry_after_s)


def _count_failure(client: Redis, fails: tuple[str, str], throttle: LoginThrottle) -> None:
    pipe = client.pipeline(transaction=False)
    for key in fails:
        pipe.incr(key)
        pipe.expire(key, throttle.window_s, nx=True)  # the window starts at the first failure
    pipe.execute()


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
    if not isinstance(secret, str) or not secret or len(secret) > _MAX_SECRET_CHARS:
        return None
    moment = time.time() if now is None else now
    row = conn.execute(_IDENTIFY, {"digest": _digest(secret), "now": moment}).first()
    if row is None:
        return None
    viewer = Viewer(account_id=row.account_id, handle=row.handle, scopes=_parse_scopes(row.scopes), role=Role(row.role))
    stale = row.last_used_at is None or row.last_used_at <= moment - LAST_USED_EVERY_S
    return Identified(viewer, row.id, stale)


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


def check_csrf(conn: sa.Connection, secret: str | None, csrf_token: str | None) -> bool:
    """Whether ``csrf_token`` (from a form post) is the CSRF token of the session ``secret``."""
    if not isinstance(secret, str) or not isinstance(csrf_token, str) or not secret or not csrf_token:
        return False
    if len(secret) > _MAX_SECRET_CHARS:
        return False
    stored = conn.execute(
        sa.select(credentials.c.csrf_token).where(
            credentials.c.secret_sha256 == _digest(secret),
            credentials.c.kind == CredentialKind.SESSION.value,
            credentials.c.revoked_at.is_(None),
        )
    ).scalar()
    return stored is not None and hmac.compare_digest(stored.encode(), csrf_token.encode())


# -- tokens and revocation -------------------------------------------------------------------------
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
        raise Forbidden(f"these credentials cannot grant the scopes {_scopes_text(wanted - who.scopes)!r}")
    if expires_in_s is not None and not (isinstance(expires_in_s, int | float) and 0 < expires_in_s < math.inf):
        raise InvalidInput(f"expires_in_s {expires_in_s!r} is not a positive number of seconds", field="expires_in_s")
    moment = time.time()
    expires_at = None if expires_in_s is None else moment + expires_in_s
    secret, credential_id = _PREFIX["token"] + secrets.token_urlsafe(32), new_id()
    conn.execute(
        sa.insert(credentials).values(
            id=credential_id,
            account_id=who.account_id,
            kind=CredentialKind.TOKEN.value,
            secret_sha256=_digest(secret),
            scopes=_scopes_text(wanted),
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
    return [TokenInfo(r.id, r.name, _parse_scopes(r.scopes), r.created_at, r.last_used_at, r.expires_at) for r in rows]


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
    if not isinstance(secret, str) or not secret or len(secret) > _MAX_SECRET_CHARS:
        return
    conn.execute(
        sa.update(credentials)
        .where(credentials.c.secret_sha256 == _digest(secret), credentials.c.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )


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
