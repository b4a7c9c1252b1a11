"""Accounts: the ``accounts`` row, which accounts anyone may find, and the lookups.

A deleted or disabled account is not found by anyone (:func:`live`); its handle and email stay
taken (the row stays, for the purge and for history). Changing an account is
:mod:`~darkroom.social.account_edits` (the profile, with an update mask) and
:mod:`~darkroom.social.account_lifecycle` (sign-up, a new password, disabling, deletion).
Counters are not written by any of them: the counter consumer recomputes them from the rows.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

import sqlalchemy as sa

from darkroom.social.errors import Forbidden, InvalidInput, NotFound
from darkroom.social.handles import lookup_handle
from darkroom.social.ids import check_id
from darkroom.social.paging import Keyset, Page, check_limit, decode_keyset, encode_keyset
from darkroom.social.viewer import Role, Viewer, require
from darkroom.social.visibility import blocked_between
from darkroom.storage.schema import accounts, blocks

__all__ = [
    "BIO_MAX_CHARS",
    "DISPLAY_NAME_MAX_CHARS",
    "OPERATOR",
    "AccountRow",
    "get_account",
    "get_account_by_id",
    "get_accounts_by_id",
    "list_accounts",
    "live",
    "search_accounts",
    "touch_last_seen",
]

DISPLAY_NAME_MAX_CHARS = 64
BIO_MAX_CHARS = 500
LAST_SEEN_EVERY_S = 3600.0  # last_seen_at decides whose feeds are kept (30 days): an hour is precise enough

# The machine's operator (the ``darkroom users`` CLI): an admin that is no account. Its id is the
# nil ULID, which no account has, so events it causes name it plainly.
OPERATOR = Viewer(account_id="0" * 26, handle="operator", role=Role.ADMIN)


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One ``accounts`` row. The password hash is kept out of ``repr`` (and so out of logs)."""

    id: str
    handle: str
    email: str
    display_name: str
    bio: str
    avatar_upload_id: str | None
    private: bool
    role: Role
    disabled: bool
    password_hash: str = field(repr=False)
    follower_count: int
    following_count: int
    post_count: int
    version: int
    last_seen_at: float | None
    created_at: float
    updated_at: float
    deleted_at: float | None

    @classmethod
    def from_row(cls, row: sa.Row[tuple[object, ...]] | Mapping[str, object]) -> AccountRow:
        values = dict(row._mapping if isinstance(row, sa.Row) else row)
        values["role"] = Role(values["role"])
        values["private"] = bool(values["private"])
        values["disabled"] = bool(values["disabled"])
        return cls(**values)


def live() -> sa.ColumnElement[bool]:
    """The condition on ``accounts`` of an account anyone may find: neither deleted nor disabled."""
    return sa.and_(accounts.c.deleted_at.is_(None), sa.not_(accounts.c.disabled))


# -- reads -----------------------------------------------------------------------------------------
def get_account(conn: sa.Connection, handle: str, *, viewer: Viewer | None = None) -> AccountRow:
    """The live account ``handle`` (any case, NFKC). With a ``viewer``, an account in a block with
    it is not found either (admins see through blocks)."""
    key = lookup_handle(handle)
    row = None
    if key is not None:
        row = conn.execute(sa.select(accounts).where(accounts.c.handle == key, live())).first()
    if row is None:
        raise NotFound(f"no account {handle!r}", field="handle")
    account = AccountRow.from_row(row)
    if viewer is not None and _in_block_with(conn, viewer, account.id):
        raise NotFound(f"no account {handle!r}", field="handle")
    return account


def get_account_by_id(conn: sa.Connection, account_id: str) -> AccountRow:
    """The live account ``account_id``; :class:`NotFound` when it is deleted, disabled or missing."""
    row = conn.execute(sa.select(accounts).where(accounts.c.id == check_id(account_id), live())).first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    return AccountRow.from_row(row)


def get_accounts_by_id(conn: sa.Connection, ids: Iterable[str]) -> dict[str, AccountRow]:
    """The live accounts among ``ids``, by id, in one query (missing ones are left out)."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = conn.execute(sa.select(accounts).where(accounts.c.id.in_(wanted), live()))
    return {row.id: AccountRow.from_row(row) for row in rows}


def list_accounts(
    conn: sa.Connection, viewer: Viewer | None, *, cursor: str | None = None, limit: int = 50
) -> Page[AccountRow]:
    """Every account not deleted (disabled ones too), oldest first: for admins and the operator."""
    who = require(viewer)
    if not who.admin:
        raise Forbidden("only admins may list every account")
    check_limit(limit)
    after = decode_keyset(cursor)
    query = sa.select(accounts).where(accounts.c.deleted_at.is_(None)).order_by(accounts.c.id).limit(limit + 1)
    if after is not None:
        query = query.where(accounts.c.id > after.id)
    rows = [AccountRow.from_row(r) for r in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_keyset(Keyset(rows[-1].created_at, rows[-1].id)) if more else None)


def search_accounts(conn: sa.Connection, viewer: Viewer | None, prefix: str, limit: int = 20) -> list[AccountRow]:
    """Live accounts whose handle or display name starts with ``prefix`` (case-insensitive; a
    leading ``@`` is ignored), handle matches first, then by handle. Accounts in a block with the
    viewer are left out. Display names are lower-cased by the database: ASCII only on SQLite."""
    check_limit(limit)
    text = unicodedata.normalize("NFKC", prefix if isinstance(prefix, str) else "").strip().removeprefix("@")
    if not text:
        raise InvalidInput(f"search prefix {prefix!r} is empty", field="q")
    if len(text) > DISPLAY_NAME_MAX_CHARS:
        raise InvalidInput(f"search prefix {prefix!r} is longer than {DISPLAY_NAME_MAX_CHARS} characters", field="q")
    needle = text.lower()
    by_handle = accounts.c.handle.startswith(needle, autoescape=True)
    by_name = sa.func.lower(accounts.c.display_name).startswith(needle, autoescape=True)
    query = (
        sa.select(accounts)
        .where(live(), sa.or_(by_handle, by_name))
        .order_by(sa.case((by_handle, 0), else_=1), accounts.c.handle)
        .limit(limit)
    )
    if viewer is not None and not viewer.admin:
        me = viewer.account_id
        theirs = sa.select(blocks.c.blocker_id).where(blocks.c.blocked_id == me)
        mine = sa.select(blocks.c.blocked_id).where(blocks.c.blocker_id == me)
        query = query.where(accounts.c.id.not_in(theirs), accounts.c.id.not_in(mine))
    return [AccountRow.from_row(r) for r in conn.execute(query)]


# -- activity --------------------------------------------------------------------------------------
def touch_last_seen(
    conn: sa.Connection, account_id: str, *, now: float | None = None, every_s: float = LAST_SEEN_EVERY_S
) -> None:
    """Note that ``account_id`` is active. Written at most once per ``every_s``: a request per
    minute per person must not become a write per request."""
    moment = time.time() if now is None else now
    conn.execute(
        sa.update(accounts)
        .where(
            accounts.c.id == account_id,
            sa.or_(accounts.c.last_seen_at.is_(None), accounts.c.last_seen_at <= moment - every_s),
        )
        .values(last_seen_at=moment)
    )


def _in_block_with(conn: sa.Connection, viewer: Viewer, account_id: str) -> bool:
    """Whether a block hides ``account_id`` from ``viewer`` (never from itself or an admin)."""
    return not viewer.admin and viewer.account_id != account_id and blocked_between(conn, viewer.account_id, account_id)


_COLUMNS = {f.name for f in fields(AccountRow)}
assert set(accounts.c.keys()) == _COLUMNS, "AccountRow must mirror the accounts table"
