"""Rows for the feed's tests, inserted directly (the accounts, graph and posts modules are built
beside the feed): accounts, follows that keep ``follower_count`` as the counter consumer would,
blocks and posts. Each takes an open connection inside the caller's transaction."""

from __future__ import annotations

import time

import sqlalchemy as sa

from darkroom.social.ids import new_id
from darkroom.storage.schema import accounts, blocks, follows, posts

__all__ = ["account", "block", "delete_post", "follow", "many_posts", "post", "unfollow"]


def account(
    conn: sa.Connection, *, private: bool = False, follower_count: int = 0, last_seen_at: float | None = None
) -> str:
    account_id = new_id()
    now = time.time()
    conn.execute(
        sa.insert(accounts).values(
            id=account_id,
            handle=f"u{account_id.lower()[-20:]}",
            email=f"{account_id.lower()}@example.test",
            display_name="",
            bio="",
            private=private,
            role="user",
            disabled=False,
            password_hash="x",
            follower_count=follower_count,
            following_count=0,
            post_count=0,
            version=1,
            last_seen_at=last_seen_at,
            created_at=now,
            updated_at=now,
        )
    )
    return account_id


def _count(conn: sa.Connection, followee: str, delta: int) -> None:
    conn.execute(
        sa.update(accounts).where(accounts.c.id == followee).values(follower_count=accounts.c.follower_count + delta)
    )


def follow(conn: sa.Connection, follower: str, followee: str, *, state: str = "active") -> None:
    conn.execute(
        sa.insert(follows).values(follower_id=follower, followee_id=followee, state=state, created_at=time.time())
    )
    if state == "active":
        _count(conn, followee, 1)


def unfollow(conn: sa.Connection, follower: str, followee: str) -> None:
    gone = conn.execute(
        sa.delete(follows).where(
            follows.c.follower_id == follower, follows.c.followee_id == followee, follows.c.state == "active"
        )
    )
    _count(conn, followee, -gone.rowcount)


def block(conn: sa.Connection, blocker: str, blocked: str) -> None:
    """A block, and the follows both ways removed (as the graph does)."""
    conn.execute(sa.insert(blocks).values(blocker_id=blocker, blocked_id=blocked, created_at=time.time()))
    unfollow(conn, blocker, blocked)
    unfollow(conn, blocked, blocker)


def post(conn: sa.Connection, author: str, *, state: str = "ready") -> str:
    post_id = new_id()
    now = time.time()
    conn.execute(
        sa.insert(posts).values(
            id=post_id,
            author_id=author,
            caption="",
            state=state,
            like_count=0,
            comment_count=0,
            version=1,
            created_at=now,
            updated_at=now,
            ready_at=now if state == "ready" else None,
        )
    )
    return post_id


def many_posts(conn: sa.Connection, author: str, n: int) -> list[str]:
    """``n`` ready posts by ``author`` in one statement, oldest first."""
    ids = [new_id() for _ in range(n)]
    now = time.time()
    values = {"author_id": author, "caption": "", "state": "ready", "like_count": 0, "comment_count": 0, "version": 1}
    conn.execute(
        sa.insert(posts),
        [{**values, "id": i, "created_at": now, "updated_at": now, "ready_at": now} for i in ids],
    )
    return ids


def delete_post(conn: sa.Connection, post_id: str) -> None:
    conn.execute(sa.update(posts).where(posts.c.id == post_id).values(deleted_at=time.time()))
