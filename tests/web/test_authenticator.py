"""The server's authenticator: a read-only lookup per request (or the credential cache), credential
uses noted in batches."""

from __future__ import annotations

import redis
import sqlalchemy as sa

from darkroom.social import tokens
from darkroom.social.viewer import Scope
from darkroom.storage.schema import credentials as credentials_table
from darkroom.web.main import DatabaseAuthenticator
from tests.social.people import signup
from tests.social.statements import statements


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _last_used(engine: sa.Engine) -> dict[str, float | None]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(credentials_table.c.id, credentials_table.c.last_used_at))
        return {str(r.id): r.last_used_at for r in rows}


def test_uses_are_noted_at_most_once_per_window_for_every_credential_due(db_engine: sa.Engine) -> None:
    alice, bob = signup(db_engine, "alice"), signup(db_engine, "bob")
    with db_engine.begin() as conn:
        a = tokens.create_token(conn, alice.viewer, name="a", scopes=[Scope.READ])
        b = tokens.create_token(conn, bob.viewer, name="b", scopes=[Scope.READ])
    clock = _Clock()
    auth = DatabaseAuthenticator(db_engine, note_every_s=1.0, clock=clock)
    viewer = auth.authenticate(a.secret)
    assert viewer is not None and viewer.account_id == alice.id
    assert _last_used(db_engine)[a.credential_id] is not None  # the first use writes at once
    assert auth.authenticate(b.secret) is not None
    assert _last_used(db_engine)[b.credential_id] is None  # due, but within the window: kept
    clock.now += 1.0
    assert auth.authenticate(b.secret) is not None  # the window is over: every credential due is noted
    assert _last_used(db_engine)[b.credential_id] is not None


def test_unknown_secrets_are_nobody_and_note_nothing(db_engine: sa.Engine) -> None:
    auth = DatabaseAuthenticator(db_engine)
    assert auth.authenticate("drt_nothing") is None
    assert _last_used(db_engine) == {}


def test_a_cached_credential_is_noted_at_most_once_a_minute_per_process(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    alice = signup(db_engine, "alice")
    with db_engine.begin() as conn:
        a = tokens.create_token(conn, alice.viewer, name="a", scopes=[Scope.READ])
    clock = _Clock()
    auth = DatabaseAuthenticator(db_engine, redis_client, note_every_s=0.0, clock=clock)
    assert auth.authenticate(a.secret) is not None  # a miss: read in SQL, cached, its use noted
    first = _last_used(db_engine)[a.credential_id]
    assert first is not None
    clock.now += 30.0
    with statements(db_engine) as seen:
        assert auth.authenticate(a.secret) is not None  # cached (as last used: never), noted a minute ago
    assert seen == []
    clock.now += 30.0
    with statements(db_engine) as noted:
        assert auth.authenticate(a.secret) is not None  # a minute on: noted again
    assert any(s.startswith("UPDATE credentials") for s in noted), noted
