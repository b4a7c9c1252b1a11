"""The follow graph on SQLite and PostgreSQL: follows, requests, blocks, lists and relations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from darkroom.social import account_edits, account_lifecycle, accounts, graph
from darkroom.social.errors import Blocked, InvalidInput, NotFound, Unauthorized
from darkroom.social.events import EventType
from darkroom.social.graph import FollowState, Relation
from darkroom.social.viewer import Role
from darkroom.storage.schema import blocks, follows
from tests.social.people import Person, count, events, read_only, signup, signup_in


def follow(engine: sa.Engine, who: Person, handle: str) -> FollowState:
    with engine.begin() as conn:
        return graph.follow(conn, who.viewer, handle)


def act(engine: sa.Engine, action: str, who: Person, handle: str) -> None:
    with engine.begin() as conn:
        getattr(graph, action)(conn, who.viewer, handle)


def followers(engine: sa.Engine, viewer: Person | None, handle: str, limit: int = 50) -> list[str]:
    with engine.connect() as conn:
        return [a.handle for a in graph.list_followers(conn, viewer and viewer.viewer, handle, limit=limit).items]


def following(engine: sa.Engine, viewer: Person | None, handle: str) -> list[str]:
    with engine.connect() as conn:
        return [a.handle for a in graph.list_following(conn, viewer and viewer.viewer, handle).items]


def requests(engine: sa.Engine, who: Person) -> list[str]:
    with engine.connect() as conn:
        return [a.handle for a in graph.list_follow_requests(conn, who.viewer).items]


@contextmanager
def counting(engine: sa.Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(*args: object) -> None:
        if not str(args[2]).startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is ours, not a query
            statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


# -- follows ---------------------------------------------------------------------------------------
def test_follow_a_public_account_once(db_engine: sa.Engine) -> None:
    alice, bob = signup(db_engine, "alice"), signup(db_engine, "bob")
    assert follow(db_engine, bob, "ALICE") is FollowState.ACTIVE
    assert follow(db_engine, bob, "alice") is FollowState.ACTIVE  # again: nothing changes
    (event,) = events(db_engine, EventType.ACCOUNT_FOLLOWED)
    assert event["account_id"] == bob.id and event["data"] == {"followee_id": alice.id}
    assert followers(db_engine, None, "alice") == ["bob"] and following(db_engine, bob, "bob") == ["alice"]
    act(db_engine, "unfollow", bob, "alice")
    act(db_engine, "unfollow", bob, "alice")  # not following: fine, no event
    (event,) = events(db_engine, EventType.ACCOUNT_UNFOLLOWED)
    assert event["data"] == {"followee_id": alice.id, "state": "active"}
    assert count(db_engine, follows) == 0


def test_following_needs_a_writer_and_another_live_account(db_engine: sa.Engine) -> None:
    alice, bob = signup(db_engine, "alice"), signup(db_engine, "bob")
    with db_engine.begin() as conn:
        with pytest.raises(InvalidInput, match="@alice cannot follow itself"):
            graph.follow(conn, alice.viewer, "Alice")
        with pytest.raises(Unauthorized):
            graph.follow(conn, None, "bob")
        with pytest.raises(NotFound, match="no account 'nobody'"):
            graph.follow(conn, alice.viewer, "nobody")
        with pytest.raises(Exception, match="only the 'read' scope"):
            graph.follow(conn, read_only(alice), "bob")
        account_lifecycle.delete_account(conn, bob.viewer)
        with pytest.raises(NotFound):
            graph.follow(conn, alice.viewer, "bob")
    assert count(db_engine, follows) == 0


def test_a_private_account_answers_requests(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice", private=True)
    bob, carol, dave = (signup(db_engine, h) for h in ("bob", "carol", "dave"))
    for who in (bob, carol, dave):
        assert follow(db_engine, who, "alice") is FollowState.REQUESTED
    assert follow(db_engine, bob, "alice") is FollowState.REQUESTED
    assert requests(db_engine, alice) == ["dave", "carol", "bob"]  # newest first
    assert followers(db_engine, alice, "alice") == []
    act(db_engine, "accept_request", alice, "bob")
    act(db_engine, "reject_request", alice, "carol")
    act(db_engine, "unfollow", dave, "alice")  # dave withdraws his request
    assert requests(db_engine, alice) == [] and followers(db_engine, alice, "alice") == ["bob"]
    with pytest.raises(NotFound, match="no follow request from @bob"):
        act(db_engine, "accept_request", alice, "bob")  # already accepted
    with pytest.raises(NotFound, match="no follow request from @carol"):
        act(db_engine, "reject_request", alice, "carol")
    assert follow(db_engine, carol, "alice") is FollowState.REQUESTED  # may ask again
    assert [e["account_id"] for e in events(db_engine, EventType.FOLLOW_REQUESTED)] == [
        bob.id,
        carol.id,
        dave.id,
        carol.id,
    ]
    (accepted,) = events(db_engine, EventType.ACCOUNT_FOLLOWED)
    assert accepted["account_id"] == bob.id and accepted["data"] == {"followee_id": alice.id, "accepted": True}
    (rejected,) = events(db_engine, EventType.FOLLOW_REJECTED)
    assert rejected["account_id"] == alice.id and rejected["data"] == {"follower_id": carol.id}
    (withdrawn,) = events(db_engine, EventType.ACCOUNT_UNFOLLOWED)
    assert withdrawn["data"] == {"followee_id": alice.id, "state": "requested"}


# -- blocks ----------------------------------------------------------------------------------------
def test_a_block_removes_follows_and_requests_both_ways(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice", private=True)
    bob, carol = signup(db_engine, "bob"), signup(db_engine, "carol")
    follow(db_engine, bob, "alice")  # a request
    act(db_engine, "accept_request", alice, "bob")
    follow(db_engine, alice, "bob")
    follow(db_engine, carol, "alice")  # a pending request, untouched by alice's block of bob
    act(db_engine, "block", alice, "bob")
    act(db_engine, "block", alice, "bob")  # twice: one row, one event
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(follows.c.follower_id, follows.c.followee_id)).all() == [(carol.id, alice.id)]
    (event,) = events(db_engine, EventType.ACCOUNT_BLOCKED)
    assert event["account_id"] == alice.id and event["data"] == {"blocked_id": bob.id}
    with pytest.raises(NotFound, match="no account 'alice'"):  # the blocked one: as if she did not exist
        follow(db_engine, bob, "alice")
    with pytest.raises(Blocked, match="unblock first"):  # the blocker knows
        follow(db_engine, alice, "bob")
    act(db_engine, "block", bob, "alice")  # blocking back works and tells nothing
    act(db_engine, "unblock", alice, "bob")
    act(db_engine, "unblock", alice, "bob")
    with pytest.raises(NotFound):
        follow(db_engine, alice, "bob")  # bob still blocks alice
    act(db_engine, "unblock", bob, "alice")
    assert follow(db_engine, alice, "bob") is FollowState.ACTIVE  # nothing was restored, follow anew
    assert len(events(db_engine, EventType.ACCOUNT_UNBLOCKED)) == 2
    assert count(db_engine, blocks) == 0
    with pytest.raises(InvalidInput, match="cannot block itself"):
        act(db_engine, "block", bob, "bob")


# -- lists -----------------------------------------------------------------------------------------
def test_lists_page_newest_follow_first_with_cursors(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:  # one transaction: 101 sign-ups and follows
        star = signup_in(conn, "star")
        fans = [signup_in(conn, f"fan{i:03}") for i in range(101)]
        # fan000 followed last: follow order is the reverse of account (id) order
        rows = [
            {"follower_id": f.id, "followee_id": star.id, "state": "active", "created_at": 2000.0 - i}
            for i, f in enumerate(fans)
        ]
        conn.execute(sa.insert(follows), rows)
    with db_engine.connect() as conn:
        first = graph.list_followers(conn, None, "star", limit=100)
        assert len(first.items) == 100 and first.next_cursor is not None
        rest = graph.list_followers(conn, None, "star", first.next_cursor, limit=100)
        assert [a.handle for a in rest.items] == ["fan100"] and rest.next_cursor is None
        assert [a.handle for a in first.items] == [f"fan{i:03}" for i in range(100)]
        small, seen = None, []
        while True:
            page = graph.list_followers(conn, None, "star", small, limit=7)
            seen += [a.handle for a in page.items]
            if page.next_cursor is None:
                break
            small = page.next_cursor
        assert seen == [f"fan{i:03}" for i in range(101)]
        with pytest.raises(InvalidInput, match="limit 101"):
            graph.list_followers(conn, None, "star", limit=101)
        with pytest.raises(InvalidInput, match="limit 0"):
            graph.list_following(conn, None, "star", limit=0)
        for bad in ("garbage", "azEx", first.next_cursor[:-2] + "!!"):
            with pytest.raises(InvalidInput, match="not a cursor of this list"):
                graph.list_followers(conn, None, "star", bad)


def test_follows_made_in_one_instant_page_by_id(db_engine: sa.Engine) -> None:
    signup(db_engine, "star")
    fans = [signup(db_engine, f"fan{i}") for i in range(5)]
    with db_engine.begin() as conn:
        conn.execute(
            sa.insert(follows),
            [
                {"follower_id": f.id, "followee_id": fans[0].id, "state": "active", "created_at": 1000.0}
                for f in fans[1:]
            ],
        )
    seen: list[str] = []
    cursor = None
    with db_engine.connect() as conn:
        while True:
            page = graph.list_followers(conn, None, "fan0", cursor, limit=2)
            seen += [a.handle for a in page.items]
            if not (cursor := page.next_cursor):
                break
    assert seen == ["fan4", "fan3", "fan2", "fan1"]


def test_a_private_accounts_lists_are_for_followers_self_and_admins(db_engine: sa.Engine) -> None:
    alice = signup(db_engine, "alice", private=True)
    bob, stranger = signup(db_engine, "bob"), signup(db_engine, "stranger")
    admin = signup(db_engine, "boss", role=Role.ADMIN)
    follow(db_engine, bob, "alice")
    act(db_engine, "accept_request", alice, "bob")
    follow(db_engine, alice, "stranger")
    for who in (alice, bob, admin):
        assert followers(db_engine, who, "alice") == ["bob"]
        assert following(db_engine, who, "alice") == ["stranger"]
    for who in (stranger, None):
        with pytest.raises(NotFound):
            followers(db_engine, who, "alice")
        with pytest.raises(NotFound):
            following(db_engine, who, "alice")
    follow(db_engine, stranger, "alice")  # a pending request is not enough
    with pytest.raises(NotFound):
        followers(db_engine, stranger, "alice")


def test_lists_hide_blocked_deleted_and_disabled_accounts(db_engine: sa.Engine) -> None:
    signup(db_engine, "star")
    viewer = signup(db_engine, "viewer")
    fans = {h: signup(db_engine, h) for h in ("blocked", "blocker", "gone", "off", "fine")}
    for fan in fans.values():
        follow(db_engine, fan, "star")
    act(db_engine, "block", viewer, "blocked")
    act(db_engine, "block", fans["blocker"], "viewer")
    with db_engine.begin() as conn:
        account_lifecycle.delete_account(conn, fans["gone"].viewer)
        account_lifecycle.disable_account(conn, accounts.OPERATOR, "off")
    assert followers(db_engine, viewer, "star") == ["fine"]
    assert followers(db_engine, None, "star") == ["fine", "blocker", "blocked"]
    with pytest.raises(NotFound):
        followers(db_engine, viewer, "blocker")  # a blocker's own lists are hidden too


def test_relations_of_a_page_in_two_queries(db_engine: sa.Engine) -> None:
    me = signup(db_engine, "myself")
    friend, fan, idol, private, foe, stranger = (
        signup(db_engine, h) for h in ("friend", "fan", "idol", "private", "foe", "stranger")
    )
    with db_engine.begin() as conn:
        account_edits.update_account(conn, private.viewer, account_edits.AccountChanges(private=True), "private")
    follow(db_engine, me, "friend")
    follow(db_engine, friend, "myself")
    follow(db_engine, fan, "myself")
    follow(db_engine, me, "idol")
    follow(db_engine, me, "private")
    act(db_engine, "block", me, "foe")
    ids = [p.id for p in (me, friend, fan, idol, private, foe, stranger)]
    with db_engine.connect() as conn, counting(db_engine) as statements:
        found = graph.relations(conn, me.viewer, ids)
    assert len(statements) == 2
    assert found == {
        me.id: Relation(),
        friend.id: Relation(followed_by_me=True, follows_me=True),
        fan.id: Relation(follows_me=True),
        idol.id: Relation(followed_by_me=True),
        private.id: Relation(requested_by_me=True),
        foe.id: Relation(blocked_by_me=True),
        stranger.id: Relation(),
    }
    with db_engine.connect() as conn, counting(db_engine) as statements:
        assert graph.relations(conn, None, ids) == dict.fromkeys(ids, Relation())
        assert graph.relations(conn, me.viewer, []) == {}
    assert statements == []
