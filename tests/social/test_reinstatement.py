"""Re-enabling a disabled account, on SQLite and PostgreSQL: admins and the operator only, found and
able to sign in again, its old credentials still revoked, ``account.enabled``; an unknown, deleted
or not-disabled account is refused naming it."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy as sa

from darkroom.social import account_lifecycle, accounts, credentials, sessions, tokens
from darkroom.social.accounts import OPERATOR
from darkroom.social.errors import Forbidden, InvalidInput, NotFound
from darkroom.social.events import EventType
from darkroom.social.reinstatement import enable_account
from darkroom.social.viewer import Role
from tests.social.people import PASSWORD, events, signup


def _login(engine: sa.Engine, client: redis.Redis, handle: str) -> sessions.Session:
    with engine.begin() as conn:
        return sessions.login(conn, client, login=handle, password=PASSWORD, address="10.0.0.9")


def test_an_enabled_account_is_found_and_signs_in_anew(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    alice = signup(db_engine, "alice")
    old = _login(db_engine, redis_client, "alice")
    with db_engine.begin() as conn:
        token = tokens.create_token(conn, old.viewer, name="script", scopes=["read"])
        disabled = account_lifecycle.disable_account(conn, OPERATOR, "alice")
    with db_engine.begin() as conn:
        enabled = enable_account(conn, OPERATOR, "ALICE")
    assert not enabled.disabled and enabled.version == disabled.version + 1
    with db_engine.connect() as conn:
        assert accounts.get_account(conn, "alice") == enabled
    # what disabling revoked stays revoked: the person signs in again
    with db_engine.begin() as conn:
        assert credentials.authenticate(conn, old.secret) is None
        assert credentials.authenticate(conn, token.secret) is None
    fresh = _login(db_engine, redis_client, "alice")
    with db_engine.begin() as conn:
        viewer = credentials.authenticate(conn, fresh.secret)
    assert viewer is not None and viewer.account_id == alice.id
    (event,) = events(db_engine, EventType.ACCOUNT_ENABLED)
    assert event["account_id"] == alice.id and event["data"] == {"by": OPERATOR.account_id}


def test_only_admins_enable_and_only_disabled_accounts(db_engine: sa.Engine) -> None:
    signup(db_engine, "alice")
    bob = signup(db_engine, "bob")
    admin = signup(db_engine, "root_admin", role=Role.ADMIN)
    gone = signup(db_engine, "gone")
    with db_engine.begin() as conn:
        account_lifecycle.delete_account(conn, gone.viewer)
        account_lifecycle.disable_account(conn, OPERATOR, "alice")
    with db_engine.begin() as conn:
        with pytest.raises(Forbidden, match="only admins may enable accounts"):
            enable_account(conn, bob.viewer, "alice")
        with pytest.raises(InvalidInput, match="@bob is not disabled") as not_disabled:
            enable_account(conn, OPERATOR, "bob")
        assert not_disabled.value.field == "handle"
        for handle in ("nobody", "no-such!", "gone"):  # a deleted account is gone for good
            with pytest.raises(NotFound, match=f"no account '{handle}'"):
                enable_account(conn, OPERATOR, handle)
        assert enable_account(conn, admin.viewer, "alice").disabled is False
        with pytest.raises(InvalidInput, match="@alice is not disabled"):  # twice: said so
            enable_account(conn, admin.viewer, "alice")
    assert [e["data"] for e in events(db_engine, EventType.ACCOUNT_ENABLED)] == [{"by": admin.id}]
