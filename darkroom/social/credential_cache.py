"""The credential cache: who a session or token belongs to, kept in Redis, so a signed-in request
costs one GET instead of a SQL statement (docs/social.md, "The credential cache").

An entry (``keys.credential``, by the secret's SHA-256, which the database holds too) is ``b"C"`` +
the JSON ``[credential id, account id, handle, role, scopes, expires_at, last_used_at]``; only credentials that
:func:`credentials.identify` accepted are cached, never an unknown secret (guessing would fill
Redis). An entry lives :data:`ENTRY_TTL_S`, and never past its credential's ``expires_at``, which is
checked again at every read.

Revocation takes effect at once: a web write that revokes a credential or takes an account's away
(revoke, logout, deleting) runs in :func:`revoking`, which writes a tombstone over each entry
(fills.py) before its commit (Redis unreachable: :class:`CacheUnreachable`, nothing revoked) and
after it, so a reader that read the row before the commit cannot write its stale entry back. The
CLI (a new password, disabling) calls :func:`forget_account` after its commit, and says so when
Redis is unreachable; the TTL bounds that. A viewer's handle, role and scopes do not change while
its credential lives, so nothing else invalidates.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis as redis_lib
import sqlalchemy as sa

from darkroom.social import credentials, fills, keys
from darkroom.social.credentials import Identified
from darkroom.social.errors import CacheUnreachable
from darkroom.social.viewer import Role, Viewer
from darkroom.storage.db import read_only
from darkroom.storage.schema import credentials as credentials_table

__all__ = [
    "ENTRY_TTL_S",
    "TOMBSTONE_TTL_S",
    "Revocation",
    "encode",
    "forget_account",
    "forget_credential",
    "forget_secret",
    "identify",
    "revoking",
]

ENTRY_TTL_S = 300
TOMBSTONE_TTL_S = 3600
_ENTRY = b"C"


def identify(
    engine: sa.Engine, redis: redis_lib.Redis, secret: str | None, *, now: float | None = None
) -> Identified | None:
    """:func:`credentials.identify` through the cache: one GET when cached; else the statement, and
    the entry written back (unless an invalidation came in between). A cached credential's
    ``stale_use`` is by its ``last_used_at`` when it was cached (noting a use does not refresh the
    entry): its caller notes a use at most once a minute by its own clock (``web.main``)."""
    if not isinstance(secret, str) or not secret or len(secret) > credentials.MAX_SECRET_CHARS:
        return None
    moment = time.time() if now is None else now
    key = keys.credential(credentials.digest(secret))
    value = redis.get(key)
    if isinstance(value, str):
        raise TypeError("the credential cache needs a Redis client with bytes replies (decode_responses=False)")
    if value is not None and value.startswith(_ENTRY):
        found = _decode(value, moment)
        if found is not None:
            return found
    with read_only(engine).begin() as conn:
        row = credentials.identify_row(conn, secret, now=moment)
    if row is None:
        return None
    found, expires_at, used_at = row
    ttl_ms = int(1000 * (ENTRY_TTL_S if expires_at is None else min(ENTRY_TTL_S, expires_at - moment)))
    if ttl_ms > 0:  # under a millisecond left: not worth an entry (and SET PX 0 is an error)
        fills.fill(redis, [fills.Fill(key, value or b"", encode(found, expires_at, used_at), ttl_ms)])
    return found


def encode(found: Identified, expires_at: float | None, used_at: float | None) -> bytes:
    """The cache entry of a credential :func:`credentials.identify_row` found."""
    v = found.viewer
    scopes = credentials.scopes_text(v.scopes)
    return _ENTRY + orjson.dumps(
        [found.credential_id, v.account_id, v.handle, v.role.value, scopes, expires_at, used_at]
    )


def _decode(value: bytes, now: float) -> Identified | None:
    try:
        credential_id, account_id, handle, role, scopes, expires_at, used_at = orjson.loads(value[1:])
        viewer = Viewer(account_id, handle, credentials.parse_scopes(scopes), Role(role), credential_id=credential_id)
    except (ValueError, TypeError):
        return None  # written by another version: read the row again
    if expires_at is not None and expires_at <= now:
        return None
    # last_used_at as it was when cached: once stale, the caller notes a use at most once a minute
    return Identified(viewer, credential_id, credentials.is_stale_use(used_at, now))


def _tombstones(redis: redis_lib.Redis, digests: Iterable[str], *, committed: bool = True) -> None:
    """A fresh tombstone over each entry. Redis unreachable is :class:`CacheUnreachable`, saying
    what it means: before the commit (``committed=False``) nothing was revoked; after it a cached
    entry may still work until it expires, which the message says (tried twice first)."""
    wanted = list(digests)
    for attempt in (1, 2):
        pipe = redis.pipeline(transaction=False)
        for d in wanted:
            pipe.set(keys.credential(d), fills.tombstone(), px=TOMBSTONE_TTL_S * 1000)
        try:
            pipe.execute()
            return
        except redis_lib.RedisError as exc:
            if not committed:
                raise CacheUnreachable(
                    f"the credential cache (Redis) is unreachable ({exc}): nothing was revoked; try again"
                ) from exc
            if attempt == 2:
                raise CacheUnreachable(
                    f"revoked, but the credential cache (Redis) could not be told ({exc}): servers may "
                    f"accept the credentials for up to {ENTRY_TTL_S} s more"
                ) from exc


@dataclass
class Revocation:
    """What one transaction revokes (:func:`revoking`): name each credential, secret or account
    once the transaction's own writes are done, so their entries are known before the commit."""

    conn: sa.Connection
    digests: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)

    def secret(self, secret: str) -> None:
        if isinstance(secret, str) and secret and len(secret) <= credentials.MAX_SECRET_CHARS:
            self.digests.add(credentials.digest(secret))

    def credential(self, credential_id: str) -> None:
        query = sa.select(credentials_table.c.secret_sha256).where(credentials_table.c.id == credential_id)
        self.digests.update(self.conn.execute(query).scalars())

    def account(self, account_id: str) -> None:
        self.accounts.add(account_id)
        self.digests.update(self.conn.execute(_of_account(account_id)).scalars())


@contextmanager
def revoking(engine: sa.Engine, redis: redis_lib.Redis) -> Iterator[Revocation]:
    """A write transaction that revokes credentials, and the cache told of it twice: before the
    commit (Redis unreachable: :class:`CacheUnreachable` and the transaction rolls back, so nothing
    is revoked and the person can try again, rather than a revoked credential working on from a
    cache for minutes) and after it (what a reader that read the row before the commit wrote back
    is overwritten; unreachable now: :class:`CacheUnreachable` naming the delay)."""
    with engine.begin() as conn:
        revocation = Revocation(conn)
        yield revocation
        _tombstones(redis, revocation.digests, committed=False)
    digests = set(revocation.digests)
    if revocation.accounts:
        with read_only(engine).begin() as conn:
            for account_id in revocation.accounts:  # again after the commit: all that it revoked
                digests.update(conn.execute(_of_account(account_id)).scalars())
    _tombstones(redis, digests)


def _of_account(account_id: str) -> sa.Select[Any]:
    """The digests of the account's credentials that a cache may hold: not revoked before the last
    tombstones' time (older revocations were told then), not expired."""
    since = time.time() - TOMBSTONE_TTL_S
    return sa.select(credentials_table.c.secret_sha256).where(
        credentials_table.c.account_id == account_id,
        sa.or_(credentials_table.c.revoked_at.is_(None), credentials_table.c.revoked_at > since),
        sa.or_(credentials_table.c.expires_at.is_(None), credentials_table.c.expires_at > since),
    )


def forget_secret(redis: redis_lib.Redis, secret: str) -> None:
    """Forget the cached credential of ``secret`` (after a logout commits)."""
    if isinstance(secret, str) and secret and len(secret) <= credentials.MAX_SECRET_CHARS:
        _tombstones(redis, [credentials.digest(secret)])


def forget_credential(engine: sa.Engine, redis: redis_lib.Redis, credential_id: str) -> None:
    """Forget credential ``credential_id`` (after its revocation commits)."""
    query = sa.select(credentials_table.c.secret_sha256).where(credentials_table.c.id == credential_id)
    with read_only(engine).begin() as conn:
        _tombstones(redis, conn.execute(query).scalars().all())


def forget_account(engine: sa.Engine, redis: redis_lib.Redis, account_id: str) -> None:
    """Forget the credentials of ``account_id`` that a cache may hold (after a new password,
    disabling or deleting commits)."""
    with read_only(engine).begin() as conn:
        _tombstones(redis, conn.execute(_of_account(account_id)).scalars().all())
