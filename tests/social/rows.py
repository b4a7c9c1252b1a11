"""Rows for social tests, inserted directly (no domain code), so each module's tests stand alone.
Each takes an open connection inside the caller's transaction. Follows keep ``follower_count`` as
the counter consumer would (the feed reads it); a block removes the follows both ways, as the
graph does."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from darkroom.social.ids import new_id
from darkroom.social.viewer import Role, Viewer
from darkroom.storage.schema import accounts, blocks, follows, mentions, post_media, post_tags, posts, uploads

__all__ = [
    "delete_post",
    "make_account",
    "make_block",
    "make_follow",
    "make_post",
    "make_posts",
    "make_upload",
    "photo_info",
    "remove_follow",
    "viewer_of",
]

_clock = itertools.count()


def _now() -> float:
    # strictly increasing, so ordering by time in a test never ties by accident
    return round(time.time(), 3) + next(_clock) / 1000


def make_account(
    conn: sa.Connection,
    handle: str = "",
    private: bool = False,
    *,
    role: str = "user",
    display_name: str = "",
    avatar_upload_id: str | None = None,
    follower_count: int = 0,
    last_seen_at: float | None = None,
) -> str:
    """An account; without ``handle``, one made from its id."""
    account_id = new_id()
    handle = handle or f"u{account_id.lower()[-20:]}"
    now = _now()
    conn.execute(
        sa.insert(accounts).values(
            id=account_id,
            handle=handle,
            email=f"{handle}@example.test",
            display_name=display_name or handle.title(),
            bio=f"bio of {handle}",
            avatar_upload_id=avatar_upload_id,
            private=private,
            role=role,
            password_hash="$argon2id$test",
            follower_count=follower_count,
            last_seen_at=last_seen_at,
            created_at=now,
            updated_at=now,
        )
    )
    return account_id


def viewer_of(conn: sa.Connection, account_id: str) -> Viewer:
    row = conn.execute(sa.select(accounts.c.handle, accounts.c.role).where(accounts.c.id == account_id)).one()
    return Viewer(account_id, row.handle, role=Role(row.role))


def photo_info(key: str = "k/photo", *, width: int = 1080, height: int = 1350) -> dict[str, object]:
    return {
        "width": width,
        "height": height,
        "duration_s": 0,
        "renditions": [
            {"key": f"{key}-1080.jpg", "content_type": "image/jpeg", "width": width, "height": height, "role": "image"},
            {"key": f"{key}-320.jpg", "content_type": "image/jpeg", "width": 320, "height": 400, "role": "image"},
        ],
    }


def make_upload(
    conn: sa.Connection,
    account_id: str,
    *,
    kind: str = "photo",
    state: str = "ready",
    info: Mapping[str, object] | None = None,
) -> str:
    upload_id = new_id()
    now = _now()
    conn.execute(
        sa.insert(uploads).values(
            id=upload_id,
            account_id=account_id,
            state=state,
            kind=kind,
            filename=f"{upload_id}.jpg",
            length_bytes=1000,
            received_bytes=1000,
            info=dict(info if info is not None else photo_info(f"u/{upload_id}")),
            created_at=now,
            updated_at=now,
        )
    )
    return upload_id


def make_post(
    conn: sa.Connection,
    author_id: str,
    state: str = "ready",
    caption: str = "",
    *,
    tags: Sequence[str] = (),
    upload_ids: Sequence[str] = (),
    mention_ids: Sequence[str] = (),
    error: str | None = None,
    deleted: bool = False,
    like_count: int = 0,
) -> str:
    post_id = new_id()
    now = _now()
    conn.execute(
        sa.insert(posts).values(
            id=post_id,
            author_id=author_id,
            caption=caption,
            state=state,
            error=error,
            like_count=like_count,
            created_at=now,
            updated_at=now,
            ready_at=now if state == "ready" else None,
            deleted_at=now if deleted else None,
        )
    )
    if upload_ids:
        conn.execute(
            sa.insert(post_media),
            [{"post_id": post_id, "position": i, "upload_id": u} for i, u in enumerate(upload_ids)],
        )
    if tags:
        conn.execute(sa.insert(post_tags), [{"tag": t, "post_id": post_id} for t in tags])
    if mention_ids:
        conn.execute(sa.insert(mentions), [{"post_id": post_id, "account_id": a} for a in mention_ids])
    return post_id


def make_posts(conn: sa.Connection, author_id: str, n: int) -> list[str]:
    """``n`` ready posts by ``author_id`` in one statement, oldest first."""
    ids = [new_id() for _ in range(n)]
    now = _now()
    values = {"author_id": author_id, "caption": "", "state": "ready", "like_count": 0, "comment_count": 0}
    conn.execute(
        sa.insert(posts),
        [{**values, "id": i, "created_at": now, "updated_at": now, "ready_at": now} for i in ids],
    )
    return ids


def delete_post(conn: sa.Connection, post_id: str) -> None:
    conn.execute(sa.update(posts).where(posts.c.id == post_id).values(deleted_at=_now()))


def _count_followers(conn: sa.Connection, followee_id: str, delta: int) -> None:
    followers = accounts.c.follower_count + delta
    conn.execute(sa.update(accounts).where(accounts.c.id == followee_id).values(follower_count=followers))


def make_follow(conn: sa.Connection, follower_id: str, followee_id: str, state: str = "active") -> None:
    conn.execute(
        sa.insert(follows).values(follower_id=follower_id, followee_id=followee_id, state=state, created_at=_now())
    )
    if state == "active":
        _count_followers(conn, followee_id, 1)


def remove_follow(conn: sa.Connection, follower_id: str, followee_id: str) -> None:
    """The active follow removed, if any (``follower_count`` with it)."""
    gone = conn.execute(
        sa.delete(follows).where(
            follows.c.follower_id == follower_id, follows.c.followee_id == followee_id, follows.c.state == "active"
        )
    )
    _count_followers(conn, followee_id, -gone.rowcount)


def make_block(conn: sa.Connection, blocker_id: str, blocked_id: str) -> None:
    """A block, and the follows both ways removed (as the graph does)."""
    conn.execute(sa.insert(blocks).values(blocker_id=blocker_id, blocked_id=blocked_id, created_at=_now()))
    remove_follow(conn, blocker_id, blocked_id)
    remove_follow(conn, blocked_id, blocker_id)
