"""Sessions and tokens on SQLite and PostgreSQL with a real Redis: login, throttling, expiry,
revocation, scopes, and what is stored."""

from __future__ import annotations

import hashlib
import time

import pytest
import redis
import sqlalchemy as sa

from darkroom.social import accounts, credentials, keys, passwords, sessions, tokens
from darkroom.social.errors import Forbidden, InvalidInput, LoginFailed, LoginThrottled, NotFound, Unauthorized
from darkroom.social.login_throttle import LoginThrottle
from darkroom.social.passwords import Argon2Profile
from darkroom.social.sessions import Session
from darkroom.social.viewer import Role, Scope, Viewer
from darkroom.storage.schema import accounts as accounts_table
from darkroom.storage.schema import credentials as credentials_table
from tests.social.people import PASSWORD, Person, read_only, signup

THROTTLE = LoginThrottle(account_failures=3, address_failures=5, window_s=60)


def login(engine: sa.Engine, r: redis.Redis, who: str, password: str = PASSWORD, address: str = "192.0.2.1") -> Session:
    with engine.begin() as conn:
        return sessions.login(conn, r, login=who, password=password, address=address, throttle=THROTTLE)


def authenticate(engine: sa.Engine, secret: str | None, now: float | None = None) -> Viewer | None:
    with engine.begin() as conn:
        return credentials.authenticate(conn, secret, now=now)


def fail_login(engine: sa.Engine, r: redis.Redis, who: str, address: str = "192.0.2.1") -> None:
    with pytest.raises(LoginFailed, match=r"^wrong handle, email or password$"):
        login(engine, r, who, "wrong password", address)


# -- sessions --------------------------------------------------------------------------------------
def test_login_by_handle_or_email_makes_a_session(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    for name in ("alice", "ALICE", " Alice@Example.com "):
        session = login(db_engine, redis_client, name)
        assert session.viewer == Viewer(alice.id, "alice", frozenset({Scope.READ, Scope.WRITE}), Role.USER)
        assert session.secret.startswith("drs_") and len(session.secret) >= 40
        assert session.secret not in repr(session) and session.csrf_token not in repr(session)
        assert session.expires_at - time.time() == pytest.approx(sessions.SESSION_TTL_S, abs=60)
        assert authenticate(db_engine, session.secret) == session.viewer
    with db_engine.connect() as conn:
        seen = conn.execute(sa.select(accounts_table.c.last_seen_at)).scalar_one()
        assert seen is not None


def test_only_the_digest_of_a_secret_is_stored(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    session = login(db_engine, redis_client, "alice")
    with db_engine.begin() as conn:
        token = tokens.create_token(conn, alice.viewer, name="cli", scopes=["read"])
        rows = conn.execute(sa.select(credentials_table)).mappings().all()
    stored = " ".join(str(v) for row in rows for v in row.values())
    for secret in (session.secret, token.secret):
        assert secret not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() in stored


def test_wrong_and_unknown_logins_fail_alike(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    signup(db_engine, "alice")
    for who, password in [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("nobody@example.com", PASSWORD),
        ("\u0430lice", PASSWORD),  # a look-alike names no account
        ("alice", "p" * 257),
        ("alice", ""),
        ("", ""),
    ]:
        with pytest.raises(LoginFailed) as caught:
            login(db_engine, redis_client, who, password, address=f"198.51.100.{len(who)}")
        assert str(caught.value) == "wrong handle, email or password"


def test_a_session_expires(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    signup(db_engine, "alice")
    session = login(db_engine, redis_client, "alice")
    assert authenticate(db_engine, session.secret, now=session.expires_at - 1) is not None
    assert authenticate(db_engine, session.secret, now=session.expires_at) is None
    assert authenticate(db_engine, session.secret, now=session.expires_at + 86400) is None


def test_logout_and_revoke(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice, bob = signup(db_engine, "alice"), signup(db_engine, "bob")
    one, two = login(db_engine, redis_client, "alice"), login(db_engine, redis_client, "alice")
    with db_engine.begin() as conn:
        credentials.logout(conn, one.secret)
        credentials.logout(conn, one.secret)  # twice is fine
        credentials.logout(conn, "drs_unknown")
        credentials.logout(conn, None)
    assert authenticate(db_engine, one.secret) is None
    assert authenticate(db_engine, two.secret) is not None
    with db_engine.begin() as conn:
        with pytest.raises(NotFound, match=f"no credential {two.credential_id}"):
            credentials.revoke(conn, bob.viewer, two.credential_id)  # someone else's
        with pytest.raises(InvalidInput, match="credential_id 'x' is not a Darkroom id"):
            credentials.revoke(conn, alice.viewer, "x")
        credentials.revoke(conn, alice.viewer, two.credential_id)
        credentials.revoke(conn, alice.viewer, two.credential_id)
    assert authenticate(db_engine, two.secret) is None


def test_garbage_secrets_are_nobody(db_engine: sa.Engine) -> None:
    for secret in (None, "", "drs_nothing", "x" * 10_000, "\x00"):
        assert authenticate(db_engine, secret) is None


def test_last_used_is_noted_at_most_once_a_minute(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    signup(db_engine, "alice")
    session = login(db_engine, redis_client, "alice")

    def last_used() -> float:
        with db_engine.connect() as conn:
            return float(conn.execute(sa.select(credentials_table.c.last_used_at)).scalar_one())

    start = last_used()
    authenticate(db_engine, session.secret, now=start + 59)
    assert last_used() == start
    authenticate(db_engine, session.secret, now=start + 60)
    assert last_used() == start + 60


def test_csrf_token_belongs_to_its_session(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    signup(db_engine, "alice")
    one, two = login(db_engine, redis_client, "alice"), login(db_engine, redis_client, "alice")
    with db_engine.begin() as conn:
        assert sessions.check_csrf(conn, one.secret, one.csrf_token)
        assert not sessions.check_csrf(conn, one.secret, two.csrf_token)
        assert not sessions.check_csrf(conn, one.secret, None)
        assert not sessions.check_csrf(conn, None, one.csrf_token)
        credentials.logout(conn, one.secret)
        assert not sessions.check_csrf(conn, one.secret, one.csrf_token)


def test_a_login_upgrades_an_old_hash(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    previous = passwords.configure(Argon2Profile(time_cost=2, memory_cost_kib=16, parallelism=1))
    try:
        signup(db_engine, "alice")
    finally:
        passwords.configure(previous)
    login(db_engine, redis_client, "alice")
    with db_engine.connect() as conn:
        stored = conn.execute(sa.select(accounts_table.c.password_hash)).scalar_one()
    assert "m=8,t=1,p=1" in stored
    login(db_engine, redis_client, "alice")


# -- throttling ------------------------------------------------------------------------------------
def test_failures_throttle_the_account_from_any_address(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    signup(db_engine, "alice")
    for i in range(THROTTLE.account_failures):
        fail_login(db_engine, redis_client, "alice", address=f"203.0.113.{i}")
    for address in ("203.0.113.99", "2001:db8::1"):  # even the right password, from anywhere
        with pytest.raises(LoginThrottled) as caught:
            login(db_engine, redis_client, "alice@example.com", address=address)
        assert 0 < caught.value.retry_after_s <= THROTTLE.window_s
        assert f"try again in {caught.value.retry_after_s} s" in str(caught.value)
    alice_key = keys.login_fails_account(accounts_id(db_engine, "alice"))
    assert 0 < redis_client.ttl(alice_key) <= THROTTLE.window_s
    redis_client.delete(alice_key)  # the window ends
    login(db_engine, redis_client, "alice", address="203.0.113.99")


def test_a_success_clears_the_account_count(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    signup(db_engine, "alice")
    for _ in range(2):
        for _ in range(THROTTLE.account_failures - 1):
            fail_login(db_engine, redis_client, "alice", address="198.51.100.7")
        login(db_engine, redis_client, "alice", address="198.51.100.8")  # clears alice's count
    assert redis_client.get(keys.login_fails_account(accounts_id(db_engine, "alice"))) is None


def test_failures_throttle_the_address_across_accounts(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    for h in ("a1", "a2", "a3", "victim"):
        signup(db_engine, h)
    spray = [*(["a1", "a2"] * 2), "nobody"]  # 5 failures, never 3 for one account
    for who in spray:
        fail_login(db_engine, redis_client, who, address="192.0.2.50")
    with pytest.raises(LoginThrottled):
        login(db_engine, redis_client, "victim", address="192.0.2.50")
    login(db_engine, redis_client, "a3", address="192.0.2.51")  # another address is fine
    login(db_engine, redis_client, "victim", address="192.0.2.51")
    with pytest.raises(LoginThrottled):  # a success does not reset the address's count
        login(db_engine, redis_client, "a3", address="192.0.2.50")


def test_an_ipv6_client_is_its_slash_64(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    for h in ("a1", "a2", "a3"):
        signup(db_engine, h)
    for i, who in enumerate(["a1", "a2", "a1", "a2", "a3"]):
        fail_login(db_engine, redis_client, who, address=f"2001:db8:0:1::{i + 1:x}")
    with pytest.raises(LoginThrottled):
        login(db_engine, redis_client, "a3", address="2001:db8:0:1:ffff::1")
    login(db_engine, redis_client, "a3", address="2001:db8:0:2::1")  # the next /64
    assert redis_client.exists(keys.login_fails_ip("2001:db8:0:1::/64"))


def test_unknown_accounts_are_throttled_like_real_ones(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    for i in range(THROTTLE.account_failures):
        fail_login(db_engine, redis_client, "nobody", address=f"203.0.113.{i}")
    with pytest.raises(LoginThrottled):
        login(db_engine, redis_client, "NOBODY", address="203.0.113.200")


def accounts_id(engine: sa.Engine, handle: str) -> str:
    with engine.connect() as conn:
        return accounts.get_account(conn, handle).id


# -- tokens ----------------------------------------------------------------------------------------
def test_tokens_carry_their_scopes(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    with db_engine.begin() as conn:
        reader = tokens.create_token(conn, alice.viewer, name="  feed reader ", scopes=["read"])
        writer = tokens.create_token(conn, alice.viewer, name="n" * 100, scopes="read,write")
    assert reader.secret.startswith("drt_") and reader.secret not in repr(reader)
    assert (reader.name, reader.scopes, reader.expires_at) == ("feed reader", frozenset({Scope.READ}), None)
    as_reader = authenticate(db_engine, reader.secret)
    assert as_reader == Viewer(alice.id, "alice", frozenset({Scope.READ}), Role.USER)
    assert authenticate(db_engine, writer.secret) == alice.viewer
    with db_engine.begin() as conn:
        with pytest.raises(Forbidden, match="only the 'read' scope"):  # a read token cannot mint tokens
            tokens.create_token(conn, as_reader, name="more", scopes=["read"])
        with pytest.raises(Unauthorized):
            tokens.create_token(conn, None, name="x", scopes=["read"])
        listed = tokens.list_tokens(conn, as_reader)
    assert [t.id for t in listed] == [writer.credential_id, reader.credential_id]
    assert listed[1].name == "feed reader" and listed[1].last_used_at is not None


BAD_TOKENS = [
    ("n" * 101, ["read"], "101 characters long: use 1 to 100"),
    ("   ", ["read"], "0 characters long"),
    ("tab\tname", ["read"], "control character"),
    ("ok", [], "scopes is empty"),
    ("ok", ["read", "admin"], "scope 'admin' is not one of read, write"),
]


def test_bad_token_requests_store_nothing(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    for name, scopes, message in BAD_TOKENS:
        with db_engine.begin() as conn, pytest.raises(InvalidInput, match=message):
            tokens.create_token(conn, alice.viewer, name=name, scopes=scopes)
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(credentials_table)).scalar_one() == 0


def test_expired_and_revoked_tokens_stop_working_and_leave_the_list(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    with db_engine.begin() as conn:
        short = tokens.create_token(conn, alice.viewer, name="short", scopes=["read"], expires_in_s=60)
        gone = tokens.create_token(conn, alice.viewer, name="gone", scopes=["read"])
        kept = tokens.create_token(conn, alice.viewer, name="kept", scopes=["read"])
        credentials.revoke(conn, alice.viewer, gone.credential_id)
        with pytest.raises(InvalidInput, match="expires_in_s -1"):
            tokens.create_token(conn, alice.viewer, name="bad", scopes=["read"], expires_in_s=-1)
    assert short.expires_at is not None
    assert authenticate(db_engine, short.secret, now=short.expires_at - 1) is not None
    assert authenticate(db_engine, short.secret, now=short.expires_at + 1) is None
    assert authenticate(db_engine, gone.secret) is None
    with db_engine.connect() as conn:
        assert {t.name for t in tokens.list_tokens(conn, alice.viewer)} == {"short", "kept"}
    assert kept.credential_id


def test_an_admin_may_revoke_anyones_credentials(db_engine: sa.Engine) -> None:
    alice, admin = signup(db_engine, "alice"), signup(db_engine, "boss", role=Role.ADMIN)
    with db_engine.begin() as conn:
        token = tokens.create_token(conn, alice.viewer, name="t", scopes=["read"])
        with pytest.raises(Forbidden):
            credentials.revoke(conn, read_only(Person(admin.account, admin.viewer)), token.credential_id)
        credentials.revoke(conn, admin.viewer, token.credential_id)
    assert authenticate(db_engine, token.secret) is None


def test_uses_noted_in_a_batch_take_two_statements_and_keep_the_hourly_last_seen(db_engine: sa.Engine) -> None:
    people = [signup(db_engine, h) for h in ("alice", "bob", "carol")]
    with db_engine.begin() as conn:
        issued = [tokens.create_token(conn, p.viewer, name="t", scopes=[Scope.READ]) for p in people]
        found = [credentials.identify(conn, t.secret) for t in issued]
    assert all(f is not None and f.stale_use for f in found)
    with db_engine.begin() as conn:
        credentials.note_uses(conn, [f for f in found if f is not None], now=1_000_000.0)
        credentials.note_uses(conn, [], now=2_000_000.0)  # nothing due: no statement, no change
    with db_engine.connect() as conn:
        used = conn.execute(sa.select(credentials_table.c.last_used_at)).scalars().all()
        seen = conn.execute(sa.select(accounts_table.c.last_seen_at)).scalars().all()
    assert used == [1_000_000.0] * 3 and seen == [1_000_000.0] * 3
    with db_engine.begin() as conn:  # within the hour: last_seen stays, last_used moves
        credentials.note_uses(conn, [f for f in found[:1] if f is not None], now=1_000_060.0)
    with db_engine.connect() as conn:
        assert (
            conn.execute(sa.select(accounts_table.c.last_seen_at).where(accounts_table.c.id == people[0].id)).scalar()
            == 1_000_000.0
        )
        assert sorted(conn.execute(sa.select(credentials_table.c.last_used_at)).scalars()) == [1_000_000.0] * 2 + [
            1_000_060.0
        ]
