"""The follow graph: follows, follow requests and blocks, their lists, and how a viewer relates to
the accounts on a page.

Rules (docs/social.md, "Visibility"): following a private account makes a *request* until it is
accepted; a block, either way, forbids following and hides each account from the other; blocking
removes follows and requests both ways. Counters (``follower_count``…) are not written here: the
counter consumer recomputes them from the rows after each event.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from darkroom.social.accounts import AccountRow, get_account, live
from darkroom.social.errors import Blocked, InvalidInput, NotFound
from darkroom.social.events import Event, EventType, record
from darkroom.social.paging import Keyset, Page, check_limit, decode_keyset, encode_keyset
from darkroom.social.viewer import Viewer, require, require_write
from darkroom.social.visibility import can_view
from darkroom.storage.schema import accounts, blocks, follows

__all__ = [
    "FollowState",
    "Relation",
    "accept_request",
    "block",
    "follow",
    "list_follow_requests",
    "list_followers",
    "list_following",
    "reject_request",
    "relations",
    "unblock",
    "unfollow",
]


class FollowState(StrEnum):
    ACTIVE = "active"
    REQUESTED = "requested"  # towards a private account, until it accepts


@dataclass(frozen=True, slots=True)
class Relation:
    """How the viewer relates to one account (the API's viewer fields)."""

    followed_by_me: bool = False
    requested_by_me: bool = False
    follows_me: bool = False
    blocked_by_me: bool = False


# -- follows ---------------------------------------------------------------------------------------
def follow(conn: sa.Connection, viewer: Viewer | None, handle: str) -> FollowState:
    """Follow ``handle``: :attr:`FollowState.ACTIVE`, or ``REQUESTED`` towards a private account.
    Following again answers the current state and changes nothing. An account that blocks the
    viewer is not found; one the viewer blocks is :class:`Blocked` (unblock it first)."""
    who = require_write(viewer)
    target = get_account(conn, handle)
    if target.id == who.account_id:
        raise InvalidInput(f"@{target.handle} cannot follow itself", field="handle")
    blockers = _blockers(conn, who.account_id, target.id)
    if target.id in blockers and not who.admin:
        raise NotFound(f"no account {handle!r}", field="handle")
    if blockers:
        raise Blocked(f"you and @{target.handle} are in a block: unblock first", field="handle")
    state = FollowState.REQUESTED if target.private else FollowState.ACTIVE
    row = {"follower_id": who.account_id, "followee_id": target.id, "state": state.value, "created_at": time.time()}
    if not _insert_new(conn, follows, row):
        existing = conn.execute(
            sa.select(follows.c.state).where(
                follows.c.follower_id == who.account_id, follows.c.followee_id == target.id
            )
        ).scalar_one()
        return FollowState(existing)
    kind = EventType.FOLLOW_REQUESTED if state is FollowState.REQUESTED else EventType.ACCOUNT_FOLLOWED
    record(conn, Event(kind, who.account_id, data={"followee_id": target.id}))
    return state


def unfollow(conn: sa.Connection, viewer: Viewer | None, handle: str) -> None:
    """Stop following ``handle``, or withdraw a request to it; not following it is fine too."""
    who = require_write(viewer)
    target = get_account(conn, handle, viewer=who)
    where = follows.c.follower_id == who.account_id, follows.c.followee_id == target.id
    state = conn.execute(sa.select(follows.c.state).where(*where)).scalar()
    if state is None:
        return
    conn.execute(sa.delete(follows).where(*where))
    record(conn, Event(EventType.ACCOUNT_UNFOLLOWED, who.account_id, data={"followee_id": target.id, "state": state}))


def list_follow_requests(
    conn: sa.Connection, viewer: Viewer | None, cursor: str | None = None, limit: int = 50
) -> Page[AccountRow]:
    """The accounts waiting for the viewer to accept their follow request, newest request first."""
    who = require(viewer)
    return _page(
        conn,
        who,
        other=follows.c.follower_id,
        edge=follows.c.followee_id == who.account_id,
        state="requested",
        cursor=cursor,
        limit=limit,
    )


def accept_request(conn: sa.Connection, viewer: Viewer | None, handle: str) -> None:
    """Accept ``handle``'s request: it follows the viewer from now on (``account.followed``, with the
    follower as ``account_id`` as for any follow, and ``accepted`` in its data)."""
    who = require_write(viewer)
    requester = get_account(conn, handle)
    done = conn.execute(
        sa.update(follows)
        .where(*_request_of(requester.id, who.account_id))
        .values(state=FollowState.ACTIVE.value, created_at=time.time())  # followers list: newest *follow* first
    )
    if done.rowcount != 1:
        raise NotFound(f"no follow request from @{requester.handle}", field="handle")
    data = {"followee_id": who.account_id, "accepted": True}
    record(conn, Event(EventType.ACCOUNT_FOLLOWED, requester.id, data=data))


def reject_request(conn: sa.Connection, viewer: Viewer | None, handle: str) -> None:
    """Reject ``handle``'s request (it may ask again)."""
    who = require_write(viewer)
    requester = get_account(conn, handle)
    if conn.execute(sa.delete(follows).where(*_request_of(requester.id, who.account_id))).rowcount != 1:
        raise NotFound(f"no follow request from @{requester.handle}", field="handle")
    record(conn, Event(EventType.FOLLOW_REJECTED, who.account_id, data={"follower_id": requester.id}))


# -- blocks ----------------------------------------------------------------------------------------
def block(conn: sa.Connection, viewer: Viewer | None, handle: str) -> None:
    """Block ``handle``: follows and requests between the two go, both ways, and neither sees the
    other any more. Blocking works whether or not the other blocks the viewer (so it tells nothing),
    and blocking twice changes nothing."""
    who = require_write(viewer)
    target = get_account(conn, handle)
    if target.id == who.account_id:
        raise InvalidInput(f"@{target.handle} cannot block itself", field="handle")
    me, them = who.account_id, target.id
    conn.execute(
        sa.delete(follows).where(
            sa.or_(
                sa.and_(follows.c.follower_id == me, follows.c.followee_id == them),
                sa.and_(follows.c.follower_id == them, follows.c.followee_id == me),
            )
        )
    )
    if _insert_new(conn, blocks, {"blocker_id": me, "blocked_id": them, "created_at": time.time()}):
        # One event for all of it: consumers drop the follows both ways (feeds, counters) on it.
        record(conn, Event(EventType.ACCOUNT_BLOCKED, me, data={"blocked_id": them}))


def unblock(conn: sa.Connection, viewer: Viewer | None, handle: str) -> None:
    """Lift the viewer's block of ``handle`` (follows removed by it are not restored)."""
    who = require_write(viewer)
    target = get_account(conn, handle)
    done = conn.execute(
        sa.delete(blocks).where(blocks.c.blocker_id == who.account_id, blocks.c.blocked_id == target.id)
    )
    if done.rowcount:
        record(conn, Event(EventType.ACCOUNT_UNBLOCKED, who.account_id, data={"blocked_id": target.id}))


# -- lists -----------------------------------------------------------------------------------------
def list_followers(
    conn: sa.Connection, viewer: Viewer | None, handle: str, cursor: str | None = None, limit: int = 50
) -> Page[AccountRow]:
    """Who follows ``handle``, newest follow first. A private account's list is for itself, its
    followers and admins; accounts in a block with the viewer are left out."""
    target = _listable(conn, viewer, handle)
    return _page(
        conn,
        viewer,
        other=follows.c.follower_id,
        edge=follows.c.followee_id == target.id,
        state="active",
        cursor=cursor,
        limit=limit,
    )


def list_following(
    conn: sa.Connection, viewer: Viewer | None, handle: str, cursor: str | None = None, limit: int = 50
) -> Page[AccountRow]:
    """Whom ``handle`` follows, newest follow first, under the rules of :func:`list_followers`."""
    target = _listable(conn, viewer, handle)
    return _page(
        conn,
        viewer,
        other=follows.c.followee_id,
        edge=follows.c.follower_id == target.id,
        state="active",
        cursor=cursor,
        limit=limit,
    )


def relations(conn: sa.Connection, viewer: Viewer | None, account_ids: Iterable[str]) -> dict[str, Relation]:
    """How the viewer relates to each of ``account_ids``, in two queries for a whole page (no
    queries for an anonymous viewer, who relates to nobody)."""
    ids = set(account_ids)
    if viewer is None or not ids:
        return dict.fromkeys(ids, Relation())
    me = viewer.account_id
    edges = conn.execute(
        sa.select(follows.c.follower_id, follows.c.followee_id, follows.c.state).where(
            sa.or_(
                sa.and_(follows.c.follower_id == me, follows.c.followee_id.in_(ids)),
                sa.and_(follows.c.followee_id == me, follows.c.follower_id.in_(ids)),
            )
        )
    ).all()
    blocked = set(
        conn.execute(
            sa.select(blocks.c.blocked_id).where(blocks.c.blocker_id == me, blocks.c.blocked_id.in_(ids))
        ).scalars()
    )
    mine = {e.followee_id: e.state for e in edges if e.follower_id == me}
    theirs = {e.follower_id for e in edges if e.followee_id == me and e.state == FollowState.ACTIVE.value}
    return {
        a: Relation(
            followed_by_me=mine.get(a) == FollowState.ACTIVE.value,
            requested_by_me=mine.get(a) == FollowState.REQUESTED.value,
            follows_me=a in theirs,
            blocked_by_me=a in blocked,
        )
        for a in ids
    }


# -- helpers ---------------------------------------------------------------------------------------
def _blockers(conn: sa.Connection, a: str, b: str) -> set[str]:
    """Which of ``a`` and ``b`` blocks the other (empty: no block)."""
    query = sa.select(blocks.c.blocker_id).where(
        sa.or_(
            sa.and_(blocks.c.blocker_id == a, blocks.c.blocked_id == b),
            sa.and_(blocks.c.blocker_id == b, blocks.c.blocked_id == a),
        )
    )
    return set(conn.execute(query).scalars())


def _request_of(follower_id: str, followee_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        follows.c.follower_id == follower_id,
        follows.c.followee_id == followee_id,
        follows.c.state == FollowState.REQUESTED.value,
    )


def _insert_new(conn: sa.Connection, table: sa.Table, row: Mapping[str, object]) -> bool:
    """Insert ``row`` unless its key exists (ON CONFLICT DO NOTHING: no error, so a concurrent
    duplicate leaves the caller's transaction usable); whether it was inserted."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING
    key = next(iter(table.primary_key.columns))
    return conn.execute(insert(table).values(row).on_conflict_do_nothing().returning(key)).first() is not None


def _listable(conn: sa.Connection, viewer: Viewer | None, handle: str) -> AccountRow:
    """``handle``, if the viewer may see its follow lists; else not found, as for posts."""
    target = get_account(conn, handle, viewer=viewer)
    if target.private and not can_view(conn, viewer, target.id, author_private=True):
        raise NotFound(f"no follow lists of {handle!r} that you may see", field="handle")
    return target


def _page(
    conn: sa.Connection,
    viewer: Viewer | None,
    *,
    other: sa.Column[str],
    edge: sa.ColumnElement[bool],
    state: str,
    cursor: str | None,
    limit: int,
) -> Page[AccountRow]:
    """A page of the accounts at the ``other`` end of the follows matching ``edge`` and ``state``:
    newest first by (follow time, account id), a keyset after ``cursor``."""
    check_limit(limit)
    after = decode_keyset(cursor)
    query = (
        sa.select(accounts, follows.c.created_at.label("followed_at"))
        .join(follows, other == accounts.c.id)
        .where(edge, follows.c.state == state, live())
        .order_by(follows.c.created_at.desc(), other.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(
            sa.or_(follows.c.created_at < after.at, sa.and_(follows.c.created_at == after.at, other < after.id))
        )
    if viewer is not None and not viewer.admin:
        me = viewer.account_id
        query = query.where(
            other.not_in(sa.select(blocks.c.blocker_id).where(blocks.c.blocked_id == me)),
            other.not_in(sa.select(blocks.c.blocked_id).where(blocks.c.blocker_id == me)),
        )
    rows = conn.execute(query).all()
    names = [c.name for c in accounts.c]
    items = [AccountRow.from_row({k: r._mapping[k] for k in names}) for r in rows[:limit]]
    if len(rows) <= limit:
        return Page(items)
    last = rows[limit - 1]
    return Page(items, encode_keyset(Keyset(last.followed_at, last.id)))
