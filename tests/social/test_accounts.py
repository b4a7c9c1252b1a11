"""Accounts on SQLite and PostgreSQL: sign-up, lookups, masked updates, deletion, the operator's actions."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from darkroom.social import account_edits, account_lifecycle, accounts, credentials, graph, sessions
from darkroom.social.account_edits import AccountChanges
from darkroom.social.accounts import OPERATOR
from darkroom.social.errors import (
    AccountDisabled,
    AlreadyExists,
    Forbidden,
    InvalidInput,
    LoginFailed,
    NotFound,
    PreconditionFailed,
    Unauthorized,
)
from darkroom.social.events import EventType
from darkroom.social.viewer import Role
from darkroom.storage.schema import accounts as accounts_table
from darkroom.storage.schema import credentials as credentials_table
from darkroom.storage.schema import follows, outbox
from tests.social.people import PASSWORD, Person, count, events, read_only, signup, signup_in


def _get(engine: sa.Engine, handle: str, viewer: accounts.Viewer | None = None) -> accounts.AccountRow:
    with engine.connect() as conn:
        return accounts.get_account(conn, handle, viewer=viewer)


def _update(
    engine: sa.Engine, person: Person, mask: str, version: int | None = None, **changes: object
) -> accounts.AccountRow:
    with engine.begin() as conn:
        return account_edits.update_account(
            conn,
            person.viewer,
            AccountChanges(**changes),
            mask,
            expected_version=version,  # type: ignore[arg-type]
        )


# -- sign-up ---------------------------------------------------------------------------------------
def test_create_stores_the_canonical_account_and_its_event(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        row = account_lifecycle.create_account(
            conn, handle=" Alice_1 ", email="Alice@Example.com", password=PASSWORD, display_name="Alice  "
        )
    assert (row.handle, row.email, row.display_name, row.role, row.private, row.version) == (
        "alice_1", "alice@example.com", "Alice", Role.USER, False, 1
    )  # fmt: skip
    assert _get(db_engine, "ALICE_1") == row
    assert row.password_hash.startswith("$argon2id$") and row.password_hash not in repr(row)
    (event,) = events(db_engine)
    assert event["type"] == "account.created" and event["account_id"] == row.id
    assert event["data"] == {"handle": "alice_1"}


def test_limits_at_their_maximum(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        row = account_lifecycle.create_account(
            conn, handle="h" * 30, email="x@" + "d" * 249 + ".io", password="p" * 256, display_name="n" * 64
        )
    assert _get(db_engine, "h" * 30) == row


BAD_SIGNUPS = [
    ({"handle": "h" * 31}, "31 characters long"),
    ({"handle": "\u0430lice"}, "looks like another character"),
    ({"handle": "admin"}, "reserved"),
    ({"email": "not-an-email"}, "exactly one '@'"),
    ({"password": "p" * 257}, "257 characters long"),
    ({"password": "short"}, "5 characters long"),
    ({"display_name": "n" * 65}, "65 characters long: at most 64"),
    ({"display_name": "bell\x07"}, "control character"),
    ({"private": "yes"}, "not true or false"),
]


def test_bad_input_is_refused_and_stores_nothing(db_engine: sa.Engine) -> None:
    for fields, message in BAD_SIGNUPS:  # one database for all: its setup costs more than the cases
        values: dict[str, object] = {"handle": "bob", "email": "bob@example.com", "password": PASSWORD} | fields
        with db_engine.begin() as conn, pytest.raises(InvalidInput, match=message):
            account_lifecycle.create_account(conn, **values)  # type: ignore[arg-type]
    assert count(db_engine, accounts_table) == 0 and count(db_engine, outbox) == 0


def test_taken_handles_and_emails_are_named(db_engine: sa.Engine) -> None:
    signup(db_engine, "alice")
    for handle, email, message in [
        ("ALICE", "other@example.com", "the handle @alice is taken"),
        ("\uff41lice", "other@example.com", "the handle @alice is taken"),
        ("alice2", "ALICE@example.com", "the email 'alice@example.com' already has an account"),
    ]:
        with db_engine.begin() as conn, pytest.raises(AlreadyExists, match=message):
            account_lifecycle.create_account(conn, handle=handle, email=email, password=PASSWORD)
    assert count(db_engine, accounts_table) == 1 and len(events(db_engine)) == 1


# SQLite runs one writer at a time (BEGIN IMMEDIATE): sign-ups cannot race there.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_lost_race_is_already_exists_and_leaves_the_transaction_usable(db_engine: sa.Engine) -> None:
    """Two sign-ups for one handle at once: the second's check saw nothing (the first had not
    committed), its insert waits on the unique index and fails when the first commits; it answers
    AlreadyExists from a savepoint, so its transaction goes on."""
    outcome: list[object] = []
    with db_engine.connect() as first:
        first.begin()
        account_lifecycle.create_account(first, handle="alice", email="a1@example.com", password=PASSWORD)

        def second() -> None:
            with db_engine.begin() as conn:
                try:
                    account_lifecycle.create_account(conn, handle="alice", email="a2@example.com", password=PASSWORD)
                except AlreadyExists as exc:
                    outcome.append(exc)
                outcome.append(conn.execute(sa.select(sa.func.count()).select_from(accounts_table)).scalar_one())

        racer = threading.Thread(target=second)
        racer.start()
        with db_engine.connect() as watcher:  # wait until the racer blocks on the first's row
            waiting = sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            deadline = time.monotonic() + 30
            while not (blocked := watcher.execute(waiting).scalar_one() > 0) and time.monotonic() < deadline:
                watcher.rollback()
        first.commit()
        assert blocked, "the second sign-up never waited on the first's row"
        racer.join(30)
    assert len(outcome) == 2 and isinstance(outcome[0], AlreadyExists) and outcome[1] == 1
    assert "@alice is taken" in str(outcome[0])


# -- reads -----------------------------------------------------------------------------------------
def test_deleted_disabled_unknown_and_blocked_accounts_are_not_found(db_engine: sa.Engine) -> None:
    alice, bob, carol, dave = (signup(db_engine, h) for h in ("alice", "bob", "carol", "dave"))
    admin = signup(db_engine, "root_admin", role=Role.ADMIN)
    with db_engine.begin() as conn:
        account_lifecycle.delete_account(conn, bob.viewer)
        account_lifecycle.disable_account(conn, OPERATOR, "carol")
        graph.block(conn, dave.viewer, "alice")
    for handle in ("bob", "carol", "nobody", "\u0430lice", "x" * 300):
        with pytest.raises(NotFound, match="no account"):
            _get(db_engine, handle)
    with pytest.raises(NotFound):
        _get(db_engine, "dave", alice.viewer)  # dave blocks alice: hidden from her
    with pytest.raises(NotFound):
        _get(db_engine, "alice", dave.viewer)  # and she from him
    assert _get(db_engine, "dave", admin.viewer).id == dave.id  # admins see through blocks
    assert _get(db_engine, "dave", dave.viewer).id == dave.id
    with db_engine.connect() as conn:
        found = accounts.get_accounts_by_id(conn, [alice.id, bob.id, carol.id, dave.id, "0" * 26])
    assert found.keys() == {alice.id, dave.id}


def test_search_by_handle_or_display_name_prefix(db_engine: sa.Engine) -> None:
    people = {h: signup(db_engine, h) for h in ("anna", "annabel", "bob_anne", "an_x", "anxious", "zed")}
    _update(db_engine, people["zed"], "display_name", display_name="Anne Zed")
    blocker = signup(db_engine, "annoyed")
    with db_engine.begin() as conn:
        graph.block(conn, blocker.viewer, "anna")
        account_lifecycle.delete_account(conn, people["anxious"].viewer)

    def search(prefix: str, viewer: Person | None = None, limit: int = 20) -> list[str]:
        with db_engine.connect() as conn:
            return [a.handle for a in accounts.search_accounts(conn, viewer and viewer.viewer, prefix, limit)]

    assert search("ANN") == ["anna", "annabel", "annoyed", "zed"]  # handles first, then display names
    assert search("@ann", people["anna"]) == ["anna", "annabel", "zed"]  # the blocker is hidden
    assert search("an_") == ["an_x"]  # '_' is literal, not LIKE's wildcard
    assert search("an%") == []
    assert search("anne z") == ["zed"]
    assert search("ann", limit=1) == ["anna"]
    for bad, message in (("   ", "is empty"), ("x" * 65, "longer than 64")):
        with pytest.raises(InvalidInput, match=message):
            search(bad)
    assert len(search("a", limit=100)) == 5
    with pytest.raises(InvalidInput, match="limit 101"):
        search("a", limit=101)


def test_list_accounts_is_for_admins_and_pages(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        people = [signup_in(conn, f"user{i:03}") for i in range(102)]  # 101 left after one deletion
    with db_engine.begin() as conn:
        account_lifecycle.disable_account(conn, OPERATOR, "user001")
        account_lifecycle.delete_account(conn, people[2].viewer)
    with db_engine.connect() as conn:
        with pytest.raises(Forbidden):
            accounts.list_accounts(conn, people[0].viewer)
        with pytest.raises(Unauthorized):
            accounts.list_accounts(conn, None)
        first = accounts.list_accounts(conn, OPERATOR, limit=100)
        assert len(first.items) == 100 and first.next_cursor is not None
        rest = accounts.list_accounts(conn, OPERATOR, cursor=first.next_cursor, limit=100)
        with pytest.raises(InvalidInput, match="limit 101"):
            accounts.list_accounts(conn, OPERATOR, limit=101)
        with pytest.raises(InvalidInput, match="cursor 'garbage'"):
            accounts.list_accounts(conn, OPERATOR, cursor="garbage")
    handles = [a.handle for a in first.items + rest.items]
    assert rest.next_cursor is None and len(handles) == 101
    assert handles == sorted(handles) and "user002" not in handles
    assert next(a for a in first.items if a.handle == "user001").disabled


# -- updates ---------------------------------------------------------------------------------------
def test_update_applies_the_mask_and_bumps_the_version(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    row = _update(db_engine, alice, "display_name,bio", display_name="Alice", bio="b" * 500)
    assert (row.display_name, row.bio, row.version) == ("Alice", "b" * 500, 2)
    row = _update(db_engine, alice, "bio", display_name="ignored", bio="line one\r\nline two")
    assert (row.display_name, row.bio, row.version) == ("Alice", "line one\nline two", 3)
    row = _update(db_engine, alice, ["display_name"])  # masked but absent from the body: cleared
    assert (row.display_name, row.bio) == ("", "line one\nline two")
    row = _update(db_engine, alice, "*", display_name="A", private=True)
    assert (row.display_name, row.bio, row.private, row.version) == ("A", "", True, 5)
    assert _get(db_engine, "alice") == row
    assert [e["data"] for e in events(db_engine, EventType.ACCOUNT_UPDATED)] == [
        {"fields": ["bio", "display_name"]}, {"fields": ["bio"]}, {"fields": ["display_name"]},
        {"fields": ["avatar", "bio", "display_name", "private"]},
    ]  # fmt: skip


BAD_UPDATES = [
    ("", {}, "update_mask is empty"),
    ([], {}, "update_mask is empty"),
    ("bio,handle", {}, "update_mask path 'handle' is not a field"),
    ("password_hash", {}, "'password_hash' is not a field"),
    ("bio", {"bio": "b" * 501}, "501 characters long: at most 500"),
    ("display_name", {"display_name": "n" * 65}, "65 characters long: at most 64"),
    ("display_name", {"display_name": "two\nlines"}, "control character"),
    ("private", {"private": None}, "not true or false"),
]


def test_bad_updates_change_nothing(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    for mask, changes, message in BAD_UPDATES:
        with pytest.raises(InvalidInput, match=message):
            _update(db_engine, alice, mask, **changes)
    assert _get(db_engine, "alice") == alice.account and len(events(db_engine)) == 1


def test_a_stale_version_is_refused(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    assert _update(db_engine, alice, "bio", version=1, bio="first").version == 2
    with pytest.raises(PreconditionFailed, match="version 2, not 1"):
        _update(db_engine, alice, "bio", version=1, bio="second")
    assert _get(db_engine, "alice").bio == "first"


def test_updates_need_a_signed_in_writer(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    with db_engine.begin() as conn:
        with pytest.raises(Unauthorized):
            account_edits.update_account(conn, None, AccountChanges(bio="x"), "bio")
        with pytest.raises(Forbidden, match="only the 'read' scope"):
            account_edits.update_account(conn, read_only(alice), AccountChanges(bio="x"), "bio")


def test_going_public_accepts_pending_requests(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice", private=True)
    bob, carol = signup(db_engine, "bob"), signup(db_engine, "carol")
    with db_engine.begin() as conn:
        assert graph.follow(conn, bob.viewer, "alice") is graph.FollowState.REQUESTED
        assert graph.follow(conn, carol.viewer, "alice") is graph.FollowState.REQUESTED
    _update(db_engine, alice, "private", private=False)
    with db_engine.connect() as conn:
        assert {r.state for r in conn.execute(sa.select(follows))} == {"active"}
        assert graph.list_follow_requests(conn, alice.viewer).items == []
    accepted = events(db_engine, EventType.ACCOUNT_FOLLOWED)
    assert {(e["account_id"], e["data"]["followee_id"]) for e in accepted} == {(bob.id, alice.id), (carol.id, alice.id)}  # type: ignore[index]


# -- deletion, passwords, disabling ----------------------------------------------------------------
def test_delete_is_soft_revokes_credentials_and_keeps_the_handle(db_engine: sa.Engine, redis_client: object) -> None:
    alice = signup(db_engine, "alice")
    with db_engine.begin() as conn:
        session = sessions.login(conn, redis_client, login="alice", password=PASSWORD, address="10.0.0.1")  # type: ignore[arg-type]
        account_lifecycle.delete_account(conn, alice.viewer)
        assert credentials.authenticate(conn, session.secret) is None
        with pytest.raises(NotFound):
            account_lifecycle.delete_account(conn, alice.viewer)  # gone already
    with pytest.raises(NotFound):
        _get(db_engine, "alice")
    with db_engine.begin() as conn, pytest.raises(AlreadyExists, match="@alice is taken"):
        account_lifecycle.create_account(conn, handle="alice", email="new@example.com", password=PASSWORD)
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(accounts_table.c.deleted_at)).scalar_one() is not None
    (event,) = events(db_engine, EventType.ACCOUNT_DELETED)
    assert event["account_id"] == alice.id


def test_set_password_by_self_admin_or_operator_revokes_credentials(db_engine: sa.Engine, redis_client: object) -> None:
    alice, bob = signup(db_engine, "alice"), signup(db_engine, "bob")
    admin = signup(db_engine, "boss", role=Role.ADMIN)

    def login(password: str) -> sessions.Session:
        with db_engine.begin() as conn:
            return sessions.login(conn, redis_client, login="alice", password=password, address="10.0.0.2")  # type: ignore[arg-type]

    session = login(PASSWORD)
    with db_engine.begin() as conn:
        with pytest.raises(Forbidden, match="only @alice or an admin"):
            account_lifecycle.set_password(conn, bob.viewer, "alice", "new password 1")
        with pytest.raises(InvalidInput, match="7 characters"):
            account_lifecycle.set_password(conn, alice.viewer, "alice", "too sho")
        account_lifecycle.set_password(conn, alice.viewer, "alice", "new password 1")
        assert credentials.authenticate(conn, session.secret) is None
    with pytest.raises(LoginFailed):
        login(PASSWORD)
    login("new password 1")
    for who, password in ((admin.viewer, "new password 2"), (OPERATOR, "new password 3")):
        with db_engine.begin() as conn:
            account_lifecycle.set_password(conn, who, "ALICE", password)
        login(password)
    with db_engine.begin() as conn, pytest.raises(NotFound):
        account_lifecycle.set_password(conn, OPERATOR, "nobody", "new password 4")
    assert [e["data"]["by"] for e in events(db_engine, EventType.ACCOUNT_UPDATED)] == [
        alice.id,
        admin.id,
        OPERATOR.account_id,
    ]  # type: ignore[index]


def test_disable_is_for_admins_and_stops_sign_in(db_engine: sa.Engine, redis_client: object) -> None:
    alice, bob = signup(db_engine, "alice"), signup(db_engine, "bob")
    with db_engine.begin() as conn:
        session = sessions.login(conn, redis_client, login="alice", password=PASSWORD, address="10.0.0.3")  # type: ignore[arg-type]
        with pytest.raises(Forbidden, match="only admins"):
            account_lifecycle.disable_account(conn, bob.viewer, "alice")
        row = account_lifecycle.disable_account(conn, OPERATOR, "alice")
        assert row.disabled and row.version == 2
        assert account_lifecycle.disable_account(conn, OPERATOR, "alice") == row  # twice: nothing changes
        assert credentials.authenticate(conn, session.secret) is None
    with db_engine.begin() as conn, pytest.raises(AccountDisabled, match="@alice is disabled"):
        sessions.login(conn, redis_client, login="alice", password=PASSWORD, address="10.0.0.3")  # type: ignore[arg-type]
    with db_engine.begin() as conn, pytest.raises(LoginFailed):
        sessions.login(conn, redis_client, login="alice", password="wrong password", address="10.0.0.3")  # type: ignore[arg-type]
    (event,) = events(db_engine, EventType.ACCOUNT_DISABLED)
    assert event["account_id"] == alice.id and event["data"] == {"by": OPERATOR.account_id}
    with db_engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).where(credentials_table.c.revoked_at.is_(None))).scalar_one() == 0
        )


def test_last_seen_is_written_sparsely(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice")
    with db_engine.begin() as conn:
        for moment in (1000.0, 1000.0 + 3599, 1000.0 + 3600, 1000.0 + 3601):
            accounts.touch_last_seen(conn, alice.id, now=moment)
            seen = conn.execute(sa.select(accounts_table.c.last_seen_at)).scalar_one()
            assert seen == (1000.0 if moment < 4600 else 4600.0)
