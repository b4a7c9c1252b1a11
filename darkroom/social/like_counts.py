"""A post's likes counted from the rows, now: what the counter consumer will store in
``posts.like_count`` (``counters.py``: every row of ``likes``), for a page that shows the count
right after a like, before the consumer has caught up."""

from __future__ import annotations

import sqlalchemy as sa

from darkroom.storage.schema import likes

__all__ = ["count_likes"]

_COUNT = sa.select(sa.func.count()).select_from(likes).where(likes.c.post_id == sa.bindparam("post_id"))


def count_likes(conn: sa.Connection, post_id: str) -> int:
    """How many likes ``post_id`` has (one index range: ``likes(post_id, …)``)."""
    return int(conn.execute(_COUNT, {"post_id": post_id}).scalar_one())
