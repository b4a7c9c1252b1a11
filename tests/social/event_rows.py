"""Rows and events for the events-pipeline tests, written straight to the tables (the domain modules
that write them in production are built beside this one)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis
import sqlalchemy as sa

from darkroom.social import keys
from darkroom.social.events import Event, EventType, record
from darkroom.social.ids import new_id
from darkroom.storage.schema import accounts, comments, follows, likes, outbox, posts


def stream_events(client: redis.Redis, stream: str = keys.EVENTS) -> list[Event]:
    """Every event in ``stream``, oldest first."""
    return [
        Event.from_fields({k.decode(): v.decode() for k, v in fields.items()})
        for _id, fields in client.xrange(stream)  # type: ignore[union-attr]
    ]


def dead_letters(client: redis.Redis) -> list[dict[str, str]]:
    return [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _id, fields in client.xrange(keys.EVENTS_DEAD)  # type: ignore[union-attr]
    ]


def some_events(n: int) -> list[Event]:
    return [Event(EventType.POST_VIEWED, new_id(), post_id=new_id(), data={"i": i}) for i in range(n)]


def outbox_order(conn: sa.Connection) -> list[str]:
    return list(conn.execute(sa.select(outbox.c.event_id).order_by(outbox.c.seq)).scalars())


def unpublished(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))).scalar_one())


# -- social rows -----------------------------------------------------------------------------------
def account(conn: sa.Connection, handle: str) -> str:
    now = time.time()
    id_ = new_id()
    conn.execute(
        sa.insert(accounts).values(
            id=id_, handle=handle, email=f"{handle}@example.org", password_hash="x", created_at=now, updated_at=now
        )
    )
    record(conn, Event(EventType.ACCOUNT_CREATED, id_))
    return id_


def follow(conn: sa.Connection, follower: str, followee: str, state: str = "active") -> None:
    conn.execute(
        sa.insert(follows).values(follower_id=follower, followee_id=followee, state=state, created_at=time.time())
    )
    kind = EventType.ACCOUNT_FOLLOWED if state == "active" else EventType.FOLLOW_REQUESTED
    record(conn, Event(kind, follower, data={"followee_id": followee}))


def unfollow(conn: sa.Connection, follower: str, followee: str) -> None:
    conn.execute(sa.delete(follows).where(follows.c.follower_id == follower, follows.c.followee_id == followee))
    record(conn, Event(EventType.ACCOUNT_UNFOLLOWED, follower, data={"followee_id": followee}))


def post(conn: sa.Connection, author: str, state: str = "ready") -> str:
    now = time.time()
    id_ = new_id()
    conn.execute(sa.insert(posts).values(id=id_, author_id=author, state=state, created_at=now, updated_at=now))
    record(conn, Event(EventType.POST_CREATED, author, post_id=id_))
    if state == "ready":
        record(conn, Event(EventType.POST_READY, author, post_id=id_))
    return id_


def delete_post(conn: sa.Connection, actor: str, post_id: str) -> None:
    conn.execute(sa.update(posts).where(posts.c.id == post_id).values(deleted_at=time.time()))
    record(conn, Event(EventType.POST_DELETED, actor, post_id=post_id))


def like(conn: sa.Connection, who: str, post_id: str) -> None:
    conn.execute(sa.insert(likes).values(post_id=post_id, account_id=who, created_at=time.time()))
    record(conn, Event(EventType.POST_LIKED, who, post_id=post_id))


def unlike(conn: sa.Connection, who: str, post_id: str) -> None:
    conn.execute(sa.delete(likes).where(likes.c.post_id == post_id, likes.c.account_id == who))
    record(conn, Event(EventType.POST_UNLIKED, who, post_id=post_id))


def comment(conn: sa.Connection, who: str, post_id: str) -> str:
    id_ = new_id()
    conn.execute(sa.insert(comments).values(id=id_, post_id=post_id, author_id=who, text="hi", created_at=time.time()))
    record(conn, Event(EventType.COMMENT_CREATED, who, post_id=post_id, data={"comment_id": id_}))
    return id_


def delete_comment(conn: sa.Connection, who: str, post_id: str, comment_id: str) -> None:
    conn.execute(sa.update(comments).where(comments.c.id == comment_id).values(deleted_at=time.time()))
    record(conn, Event(EventType.COMMENT_DELETED, who, post_id=post_id, data={"comment_id": comment_id}))


def account_counts(conn: sa.Connection, ids: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    rows = conn.execute(
        sa.select(accounts.c.id, accounts.c.follower_count, accounts.c.following_count, accounts.c.post_count).where(
            accounts.c.id.in_(ids)
        )
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def post_counts(conn: sa.Connection, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    rows = conn.execute(sa.select(posts.c.id, posts.c.like_count, posts.c.comment_count).where(posts.c.id.in_(ids)))
    return {r[0]: (r[1], r[2]) for r in rows}
