"""The accounts a person blocks, for their settings (blocking and unblocking are ``graph``'s).

Newest block first, a keyset over ``(created_at, blocked_id)`` read through the index
``blocks(blocker_id, created_at, blocked_id)``: each page is a range scan, however long the list.
Only live accounts are listed (a deleted one cannot be seen, so there is nothing to unblock).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from darkroom.social.accounts import AccountRow, live
from darkroom.social.paging import Keyset, Page, check_limit, decode_keyset, encode_keyset
from darkroom.social.viewer import Viewer, require
from darkroom.storage.schema import accounts, blocks

__all__ = ["BlockedAccount", "list_blocked"]


@dataclass(frozen=True, slots=True)
class BlockedAccount:
    """An account the viewer blocks, and since when (epoch seconds)."""

    account: AccountRow
    blocked_at: float


def list_blocked(
    conn: sa.Connection, viewer: Viewer | None, cursor: str | None = None, limit: int = 50
) -> Page[BlockedAccount]:
    """A page of the accounts the viewer blocks, newest block first, after ``cursor``."""
    who = require(viewer)
    check_limit(limit)
    after = decode_keyset(cursor)
    query = (
        sa.select(accounts, blocks.c.created_at.label("blocked_at"))
        .join(blocks, blocks.c.blocked_id == accounts.c.id)
        .where(blocks.c.blocker_id == who.account_id, live())
        .order_by(blocks.c.created_at.desc(), blocks.c.blocked_id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(
            sa.or_(
                blocks.c.created_at < after.at,
                sa.and_(blocks.c.created_at == after.at, blocks.c.blocked_id < after.id),
            )
        )
    rows = conn.execute(query).all()
    names = [c.name for c in accounts.c]
    items = [BlockedAccount(AccountRow.from_row({k: r._mapping[k] for k in names}), r.blocked_at) for r in rows[:limit]]
    if len(rows) <= limit:
        return Page(items)
    last = rows[limit - 1]
    return Page(items, encode_keyset(Keyset(last.blocked_at, last.id)))
