"""A profile's posts: the grid of one account's posts, newest first.

The rules are visibility.py's: an account in a block with the viewer is not found, and a private
account's posts are for itself, its active followers and admins (anyone else: :class:`NotFound`,
as for a missing account). Others see the ready posts; the account itself and admins also see
its posts still processing or failed (``resources`` then shows ``error`` to the author only).
Deleted posts are never listed.
"""

from __future__ import annotations

import sqlalchemy as sa

from darkroom.social.accounts import get_account
from darkroom.social.errors import NotFound
from darkroom.social.ids import time_ms
from darkroom.social.paging import Keyset, Page, check_limit, decode_keyset, encode_keyset
from darkroom.social.viewer import Viewer
from darkroom.social.visibility import can_view
from darkroom.storage.schema import posts

__all__ = ["list_account_posts"]


def list_account_posts(
    conn: sa.Connection,
    viewer: Viewer | None,
    handle: str,
    cursor: str | None = None,
    limit: int = 20,
) -> Page[str]:
    """Ids of ``handle``'s posts that ``viewer`` may see, newest first (keyset on the id, on the
    index ``posts(author_id, state, id)``)."""
    limit = check_limit(limit)
    after = decode_keyset(cursor)
    author = get_account(conn, handle, viewer=viewer)  # blocks either way answer NotFound here
    if author.private and not can_view(conn, viewer, author.id, author_private=True):
        raise NotFound(f"no posts of {handle!r} that you may see", field="handle")
    query = sa.select(posts.c.id).where(posts.c.author_id == author.id, posts.c.deleted_at.is_(None))
    if viewer is None or not (viewer.account_id == author.id or viewer.admin):
        query = query.where(posts.c.state == "ready")
    if after is not None:
        query = query.where(posts.c.id < after.id)
    ids = list(conn.execute(query.order_by(posts.c.id.desc()).limit(limit + 1)).scalars())
    if len(ids) <= limit:
        return Page(ids)
    last = ids[limit - 1]
    return Page(ids[:limit], encode_keyset(Keyset(time_ms(last) / 1000, last)))
