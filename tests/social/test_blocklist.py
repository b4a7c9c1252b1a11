"""The block list: newest block first, paged by keyset (no repeats, no gaps), only live accounts,
one's own only, and read through its index."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from darkroom.social import account_lifecycle, blocklist
from darkroom.social.errors import InvalidInput, Unauthorized
from darkroom.storage.schema import blocks
from tests.social.media_helpers import make_account
from tests.social.statements import statements


def test_the_block_list_pages_newest_first_and_leaves_out_deleted_accounts(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        ana = make_account(conn, "ana")
        others = [make_account(conn, f"p{i}") for i in range(5)]
        now = time.time()
        for i, other in enumerate(others):  # p0 oldest … p4 newest; p3 and p4 at the same moment
            at = now + min(i, 3)
            conn.execute(sa.insert(blocks), {"blocker_id": ana.account_id, "blocked_id": other.account_id,
                                             "created_at": at})  # fmt: skip
        conn.execute(sa.insert(blocks), {"blocker_id": others[0].account_id, "blocked_id": ana.account_id,
                                         "created_at": now})  # fmt: skip
    seen: list[str] = []
    cursor = None
    with db_engine.connect() as conn:
        while True:
            page = blocklist.list_blocked(conn, ana, cursor, limit=2)
            seen += [b.account.handle for b in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        tied = sorted([others[3], others[4]], key=lambda v: v.account_id, reverse=True)
        assert seen == [v.handle for v in tied] + ["p2", "p1", "p0"]
        assert [b.account.handle for b in blocklist.list_blocked(conn, others[0]).items] == ["ana"]
        with pytest.raises(InvalidInput, match="cursor 'nope' is not a cursor of this list"):
            blocklist.list_blocked(conn, ana, "nope")
        with pytest.raises(Unauthorized):
            blocklist.list_blocked(conn, None)
    with db_engine.begin() as conn:
        account_lifecycle.delete_account(conn, others[2])
    with db_engine.connect() as conn:
        assert "p2" not in [b.account.handle for b in blocklist.list_blocked(conn, ana).items]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_block_list_reads_through_its_index(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        ana = make_account(conn, "ana")
    with statements(db_engine) as captured, db_engine.connect() as conn:
        blocklist.list_blocked(conn, ana)
    (query,) = [s for s in captured if "FROM accounts JOIN blocks" in s]
    with db_engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}", (ana.account_id, 51, 0))
        plan = " ".join(str(r[-1]) for r in rows)
    assert "ix_blocks_blocker_id_created_at_blocked_id" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # the index gives the order: no sort of the whole list
