"""The credential cache: a cached credential costs no SQL, and every revocation takes effect at once."""

from __future__ import annotations

import time

import pytest
import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry

from darkroom.social import account_lifecycle, credential_cache, credentials, fills, keys, tokens
from darkroom.social.accounts import OPERATOR
from darkroom.social.errors import CacheUnreachable
from darkroom.social.viewer import Scope
from darkroom.storage.schema import credentials as credentials_table
from tests.social.people import signup
from tests.social.statements import statements


def _token(engine: sa.Engine, person_viewer: object, *, expires_in_s: float | None = None) -> tokens.IssuedToken:
    with engine.begin() as conn:
        return tokens.create_token(conn, person_viewer, name="t", scopes=[Scope.READ], expires_in_s=expires_in_s)  # type: ignore[arg-type]


def test_a_cached_credential_is_identified_without_sql(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    issued = _token(db_engine, alice.viewer)
    first = credential_cache.identify(db_engine, redis_client, issued.secret)
    assert first is not None and first.viewer.account_id == alice.id
    with statements(db_engine) as seen:
        again = credential_cache.identify(db_engine, redis_client, issued.secret)
    assert seen == []
    assert again is not None and again.viewer == first.viewer and again.credential_id == issued.credential_id
    assert Scope.WRITE not in again.viewer.scopes


def test_unknown_secrets_are_not_cached(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    assert credential_cache.identify(db_engine, redis_client, "drt_nothing") is None
    assert redis_client.get(keys.credential(credentials.digest("drt_nothing"))) is None


def test_a_revoked_token_is_refused_at_once(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    issued = _token(db_engine, alice.viewer)
    assert credential_cache.identify(db_engine, redis_client, issued.secret) is not None  # cached
    with db_engine.begin() as conn:
        credentials.revoke(conn, alice.viewer, issued.credential_id)
    credential_cache.forget_credential(db_engine, redis_client, issued.credential_id)
    assert credential_cache.identify(db_engine, redis_client, issued.secret) is None


def test_a_logout_is_refused_at_once(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    issued = _token(db_engine, alice.viewer)
    assert credential_cache.identify(db_engine, redis_client, issued.secret) is not None
    with db_engine.begin() as conn:
        credentials.logout(conn, issued.secret)
    credential_cache.forget_secret(redis_client, issued.secret)
    assert credential_cache.identify(db_engine, redis_client, issued.secret) is None


def test_disabling_or_a_new_password_drops_every_credential(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice, bob = signup(db_engine, "alice"), signup(db_engine, "bob")
    a1, a2, b1 = _token(db_engine, alice.viewer), _token(db_engine, alice.viewer), _token(db_engine, bob.viewer)
    for t in (a1, a2, b1):
        assert credential_cache.identify(db_engine, redis_client, t.secret) is not None
    with db_engine.begin() as conn:
        account_lifecycle.disable_account(conn, OPERATOR, "alice")
    credential_cache.forget_account(db_engine, redis_client, alice.id)
    assert credential_cache.identify(db_engine, redis_client, a1.secret) is None
    assert credential_cache.identify(db_engine, redis_client, a2.secret) is None
    assert credential_cache.identify(db_engine, redis_client, b1.secret) is not None  # another account's stays
    with db_engine.begin() as conn:
        account_id = account_lifecycle.set_password(conn, OPERATOR, "bob", "another long password 42")
    credential_cache.forget_account(db_engine, redis_client, account_id)
    assert credential_cache.identify(db_engine, redis_client, b1.secret) is None


def test_a_slow_reader_cannot_write_back_a_revoked_credential(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    issued = _token(db_engine, alice.viewer)
    key = keys.credential(credentials.digest(issued.secret))
    with db_engine.connect() as conn:
        row = credentials.identify_row(conn, issued.secret)  # read before the revocation
    assert row is not None
    with db_engine.begin() as conn:
        credentials.revoke(conn, alice.viewer, issued.credential_id)
    credential_cache.forget_credential(db_engine, redis_client, issued.credential_id)
    # the reader's MGET saw nothing; its write-back comes after the tombstone and is dropped
    fills.fill(redis_client, [fills.Fill(key, b"", credential_cache.encode(*row), 60_000)])
    assert credential_cache.identify(db_engine, redis_client, issued.secret) is None


def test_an_expired_token_is_refused_from_the_cache(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    issued = _token(db_engine, alice.viewer, expires_in_s=60)
    assert credential_cache.identify(db_engine, redis_client, issued.secret) is not None
    later = time.time() + 61
    assert credential_cache.identify(db_engine, redis_client, issued.secret, now=later) is None
    ttl_ms = redis_client.pttl(keys.credential(credentials.digest(issued.secret)))
    assert 0 < ttl_ms <= 60_000  # the entry never outlives the credential


def _unreachable() -> redis.Redis:
    """A real client of a port nobody listens on (Redis down or cut off at revocation time)."""
    return redis.Redis(port=1, retry=Retry(NoBackoff(), 0))


def test_revoking_without_redis_revokes_nothing_and_says_so(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    issued = _token(db_engine, alice.viewer)
    assert credential_cache.identify(db_engine, redis_client, issued.secret) is not None  # cached
    unreachable = pytest.raises(CacheUnreachable, match="nothing was revoked")
    with unreachable, credential_cache.revoking(db_engine, _unreachable()) as revocation:
        credentials.revoke(revocation.conn, alice.viewer, issued.credential_id)
        revocation.credential(issued.credential_id)
    with db_engine.connect() as conn:  # rolled back: the person is told to try again, and can
        assert credentials.identify(conn, issued.secret) is not None


def test_a_revocation_leaves_tombstones(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    a1, a2 = _token(db_engine, alice.viewer), _token(db_engine, alice.viewer)
    for t in (a1, a2):
        assert credential_cache.identify(db_engine, redis_client, t.secret) is not None
    with credential_cache.revoking(db_engine, redis_client) as revocation:
        account_lifecycle.disable_account(revocation.conn, OPERATOR, "alice")
        revocation.account(alice.id)
    for t in (a1, a2):
        entry = redis_client.get(keys.credential(credentials.digest(t.secret)))
        assert entry is not None and entry.startswith(fills.TOMBSTONE)
        assert credential_cache.identify(db_engine, redis_client, t.secret) is None


def test_forgetting_after_the_commit_without_redis_names_the_delay(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    issued = _token(db_engine, alice.viewer)
    with pytest.raises(CacheUnreachable, match=f"up to {credential_cache.ENTRY_TTL_S} s"):
        credential_cache.forget_credential(db_engine, _unreachable(), issued.credential_id)


def test_an_entry_about_to_expire_is_not_written_with_a_zero_ttl(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    alice = signup(db_engine, "alice")
    issued = _token(db_engine, alice.viewer, expires_in_s=60)
    with db_engine.connect() as conn:
        expires_at = conn.execute(
            sa.select(credentials_table.c.expires_at).where(credentials_table.c.id == issued.credential_id)
        ).scalar_one()
    found = credential_cache.identify(db_engine, redis_client, issued.secret, now=expires_at - 0.0004)
    assert found is not None  # still valid for 0.4 ms: answered, and nothing cached for 0 ms
