"""Re-enabling a disabled account (``darkroom users enable``), the way back from
:func:`~darkroom.social.account_lifecycle.disable_account`.

The account is found and can sign in again; the sessions and tokens revoked when it was disabled
stay revoked, so the person signs in anew (and makes new tokens). Follows, posts and counters were
never touched by disabling, so nothing else changes.
"""

from __future__ import annotations

import time
from dataclasses import replace

import sqlalchemy as sa

from darkroom.social.accounts import AccountRow
from darkroom.social.errors import Forbidden, InvalidInput, NotFound
from darkroom.social.events import Event, EventType, record
from darkroom.social.handles import lookup_handle
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.schema import accounts

__all__ = ["enable_account"]


def enable_account(conn: sa.Connection, viewer: Viewer | None, handle: str) -> AccountRow:
    """Enable the disabled account ``handle`` (admins and the operator): ``account.enabled``, a
    new version. An unknown or deleted handle: :class:`NotFound`; an account that is not disabled:
    :class:`InvalidInput` (nothing to undo, and saying so catches a mistyped handle)."""
    who = require_write(viewer)
    if not who.admin:
        raise Forbidden("only admins may enable accounts")
    key = lookup_handle(handle)
    row = None
    if key is not None:
        query = sa.select(accounts).where(accounts.c.handle == key, accounts.c.deleted_at.is_(None))
        row = conn.execute(query.with_for_update()).first()
    if row is None:
        raise NotFound(f"no account {handle!r}", field="handle")
    account = AccountRow.from_row(row)
    if not account.disabled:
        raise InvalidInput(f"@{account.handle} is not disabled: there is nothing to enable", field="handle")
    now = time.time()
    conn.execute(
        sa.update(accounts)
        .where(accounts.c.id == account.id)
        .values(disabled=False, updated_at=now, version=accounts.c.version + 1)
    )
    record(conn, Event(EventType.ACCOUNT_ENABLED, account.id, data={"by": who.account_id}))
    return replace(account, disabled=False, updated_at=now, version=account.version + 1)
