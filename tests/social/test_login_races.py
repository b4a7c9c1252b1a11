"""A login whose password check ran before a new password or a disabling committed must not open
a session that outlives them (the check reads; the session is written in a later transaction)."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy as sa

from darkroom.social import account_lifecycle, credentials, reinstatement, sessions, tokens
from darkroom.social.accounts import OPERATOR, AccountRow
from darkroom.social.errors import AccountDisabled, LoginFailed, Unauthorized
from darkroom.storage.schema import accounts
from darkroom.storage.schema import credentials as credentials_table
from tests.social.people import PASSWORD, signup


def _verify(engine: sa.Engine, client: redis.Redis, password: str = PASSWORD) -> sessions.VerifiedLogin:
    with engine.connect() as conn:
        return sessions.verify_login(conn, client, login="alice", password=password, address="192.0.2.1")


def _live_credentials(engine: sa.Engine) -> int:
    query = sa.select(sa.func.count()).select_from(credentials_table).where(credentials_table.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_login_checked_before_a_new_password_opens_no_session(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    signup(db_engine, "alice")
    verified = _verify(db_engine, redis_client)  # the old password, checked
    with db_engine.begin() as conn:
        account_lifecycle.set_password(conn, OPERATOR, "alice", "a brand new password 42")
    with pytest.raises(LoginFailed), db_engine.begin() as conn:
        sessions.start_session(conn, verified)
    assert _live_credentials(db_engine) == 0
    assert _verify(db_engine, redis_client, "a brand new password 42").account.handle == "alice"


def test_an_outdated_hash_rewrite_cannot_bring_the_old_password_back(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    signup(db_engine, "alice")
    verified = _verify(db_engine, redis_client)
    stale = sessions.VerifiedLogin(verified.account, new_hash=verified.account.password_hash)  # a rehash of the old
    with db_engine.begin() as conn:
        account_lifecycle.set_password(conn, OPERATOR, "alice", "a brand new password 42")
    with pytest.raises(LoginFailed), db_engine.begin() as conn:
        sessions.start_session(conn, stale)
    with pytest.raises(LoginFailed):
        _verify(db_engine, redis_client)  # the old password stays dead


def test_a_login_checked_before_disabling_opens_no_session_even_after_enabling(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    signup(db_engine, "alice")
    verified = _verify(db_engine, redis_client)
    with db_engine.begin() as conn:
        account_lifecycle.disable_account(conn, OPERATOR, "alice")
    with pytest.raises(AccountDisabled), db_engine.begin() as conn:
        sessions.start_session(conn, verified)
    with db_engine.begin() as conn:
        reinstatement.enable_account(conn, OPERATOR, "alice")
    assert _live_credentials(db_engine) == 0  # nothing revived by enabling


def test_a_token_made_by_a_credential_revoked_mid_request_is_refused(db_engine: sa.Engine) -> None:
    signup(db_engine, "alice")
    with db_engine.begin() as conn:
        session = sessions.start_session(conn, sessions.VerifiedLogin(_account(conn)))
    with db_engine.connect() as conn:
        viewer = credentials.authenticate(conn, session.secret)  # the request is identified
    assert viewer is not None
    with db_engine.begin() as conn:  # then the password is reset (every credential revoked)
        account_lifecycle.set_password(conn, OPERATOR, "alice", "a brand new password 42")
    with pytest.raises(Unauthorized), db_engine.begin() as conn:
        tokens.create_token(conn, viewer, name="persist", scopes=["read", "write"])
    assert _live_credentials(db_engine) == 0  # nothing outlives the reset


def _account(conn: sa.Connection) -> AccountRow:
    return AccountRow.from_row(conn.execute(sa.select(accounts).where(accounts.c.handle == "alice")).one())
