"""An account's profile grid: its posts, newest first.

Who may read it follows visibility.py: a block either way, a deleted or disabled account, or a
private account read by anyone but itself, an active follower or an admin answers
:class:`NotFound`, exactly like a handle nobody has. Others see the account's ready posts; the
account itself also sees its posts still processing or failed (where their ``error`` shows).
"""

from __future__ import annotations

import sqlalchemy as sa

from darkroom.social import accounts, visibility
from darkroom.social.errors import NotFound
from darkroom.social.ids import time_ms
from darkroom.social.paging import Keyset, Page, check_limit, decode_keyset, encode_keyset
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import posts

__all__ = ["account_posts"]


def account_posts(
    conn: sa.Connection,
    viewer: Viewer | None,
    handle: str,
    cursor: str | None = None,
    limit: int = 20,
) -> Page[str]:
    """Ids of ``handle``'s posts that ``viewer`` may see, newest first (keyset on the post id, on
    the index ``posts(author_id, state, id)``)."""
    limit = check_limit(limit)
    after = decode_keyset(cursor)
    account = accounts.get_account(conn, handle, viewer=viewer)
    if not visibility.can_view(conn, viewer, account.id, author_private=account.private):
        raise NotFound(f"no account {handle!r}", field="handle")
    own = viewer is not None and viewer.account_id == account.id
    query = (
        sa.select(posts.c.id)
        .where(posts.c.author_id == account.id, posts.c.deleted_at.is_(None))
        .order_by(posts.c.id.desc())
        .limit(limit + 1)
    )
    if not own:
        query = query.where(posts.c.state == "ready")
    if after is not None:
        query = query.where(posts.c.id < after.id)
    ids = list(conn.execute(query).scalars())
    more = len(ids) > limit
    ids = ids[:limit]
    last = ids[-1] if more else None
    return Page(ids, None if last is None else encode_keyset(Keyset(time_ms(last) / 1000, last)))
