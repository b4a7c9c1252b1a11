"""An account's lifecycle: sign-up, a new password, disabling (the operator's action) and
deletion. The last three revoke every session and token of the account.

Every function takes an open connection inside the caller's transaction and writes its event there
(``events.record``). A deleted or disabled account keeps its row, so its handle and email stay
taken. Purging a deleted account's media is the purge consumer's work, on ``account.deleted``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import sqlalchemy as sa
from redis import Redis

from darkroom.social import passwords, sessions
from darkroom.social.account_edits import check_display_name, check_private
from darkroom.social.accounts import AccountRow, get_account_by_id
from darkroom.social.errors import AlreadyExists, Forbidden, LoginFailed, NotFound
from darkroom.social.events import Event, EventType, record
from darkroom.social.handles import lookup_handle, normalize_email, normalize_handle
from darkroom.social.ids import new_id
from darkroom.social.viewer import Role, Viewer, require_write
from darkroom.storage.schema import accounts, credentials

__all__ = [
    "NewAccount",
    "confirm_password",
    "create_account",
    "delete_account",
    "disable_account",
    "insert_account",
    "prepare_account",
    "set_password",
]


# -- sign-up ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewAccount:
    """A sign-up's values, checked and with the password hashed (:func:`prepare_account`)."""

    handle: str
    email: str
    display_name: str
    private: bool
    role: Role
    password_hash: str = field(repr=False)


def prepare_account(
    *,
    handle: str,
    email: str,
    password: str,
    display_name: str = "",
    role: Role = Role.USER,
    private: bool = False,
) -> NewAccount:
    """Check every value of a sign-up and hash its password, without the database. Hashing is the
    slow part (argon2id, about 0.3 s): a caller on SQLite does it before taking the write lock."""
    handle, email = normalize_handle(handle), normalize_email(email)
    display_name, private = check_display_name(display_name), check_private(private)
    return NewAccount(handle, email, display_name, private, Role(role), passwords.hash_password(password))


def create_account(
    conn: sa.Connection,
    *,
    handle: str,
    email: str,
    password: str,
    display_name: str = "",
    role: Role = Role.USER,
    private: bool = False,
) -> AccountRow:
    """A new account. Every value is checked before anything is written; a taken handle or email
    is :class:`AlreadyExists` naming it (deleted accounts keep theirs)."""
    new = prepare_account(
        handle=handle, email=email, password=password, display_name=display_name, role=role, private=private
    )
    return insert_account(conn, new)


def insert_account(conn: sa.Connection, new: NewAccount) -> AccountRow:
    """Write the account :func:`prepare_account` checked; a taken handle or email is
    :class:`AlreadyExists` naming it."""
    handle, email = new.handle, new.email
    _refuse_taken(conn, handle, email)
    now = time.time()
    account = AccountRow(
        id=new_id(),
        handle=handle,
        email=email,
        display_name=new.display_name,
        bio="",
        avatar_upload_id=None,
        private=new.private,
        role=new.role,
        disabled=False,
        password_hash=new.password_hash,
        follower_count=0,
        following_count=0,
        post_count=0,
        version=1,
        last_seen_at=None,
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    row = {f.name: getattr(account, f.name) for f in fields(AccountRow)} | {"role": account.role.value}
    try:
        with conn.begin_nested():  # a savepoint: losing a race to a concurrent sign-up leaves the transaction usable
            conn.execute(sa.insert(accounts).values(row))
    except sa.exc.IntegrityError:
        _refuse_taken(conn, handle, email)
        raise
    record(conn, Event(EventType.ACCOUNT_CREATED, account.id, data={"handle": handle}))
    return account


def _refuse_taken(conn: sa.Connection, handle: str, email: str) -> None:
    taken = conn.execute(
        sa.select(accounts.c.handle).where(sa.or_(accounts.c.handle == handle, accounts.c.email == email))
    ).first()
    if taken is None:
        return
    if taken.handle == handle:
        raise AlreadyExists(f"the handle @{handle} is taken", field="handle")
    raise AlreadyExists(f"the email {email!r} already has an account", field="email")


# -- changes that revoke every credential ----------------------------------------------------------
def confirm_password(conn: sa.Connection, redis: Redis, viewer: Viewer | None, password: str, *, address: str) -> None:
    """The viewer typed its own password again (before deleting the account): reads only, so a
    caller on SQLite runs it (argon2id) outside the write transaction. A wrong one is
    :class:`LoginFailed` and counts in the login throttle like a failed login, so a left-open
    session cannot be used to guess it."""
    who = require_write(viewer)
    try:
        verified = sessions.verify_login(conn, redis, login=who.handle, password=password, address=address)
    except LoginFailed:
        raise LoginFailed(f"that is not the password of @{who.handle}", field="password") from None
    if verified.account.id != who.account_id:  # a handle names one account; this never differs
        raise LoginFailed(f"that is not the password of @{who.handle}", field="password")


def delete_account(conn: sa.Connection, viewer: Viewer | None) -> None:
    """Soft-delete the viewer's account: it is not found any more and its credentials are revoked.
    Purging its media is the purge consumer's work, on ``account.deleted``."""
    who = require_write(viewer)
    current = get_account_by_id(conn, who.account_id)
    now = time.time()
    _change_and_revoke(conn, current.id, now, {"deleted_at": now})
    record(conn, Event(EventType.ACCOUNT_DELETED, current.id, data={"handle": current.handle}))


def set_password(conn: sa.Connection, viewer: Viewer | None, handle: str, password: str) -> str:
    """Replace the password of ``handle`` (the viewer's own, or any for an admin or the
    :data:`~darkroom.social.accounts.OPERATOR`; disabled accounts too) and revoke its sessions and
    tokens; the account's id (for ``credential_cache.forget_account`` once committed)."""
    who = require_write(viewer)
    account = _by_handle(conn, handle)
    if account.id != who.account_id and not who.admin:
        raise Forbidden(f"only @{account.handle} or an admin may set @{account.handle}'s password")
    password_hash = passwords.hash_password(password)
    now = time.time()
    _change_and_revoke(conn, account.id, now, {"password_hash": password_hash})
    record(conn, Event(EventType.ACCOUNT_UPDATED, account.id, data={"fields": ["password"], "by": who.account_id}))
    return account.id


def disable_account(conn: sa.Connection, viewer: Viewer | None, handle: str) -> AccountRow:
    """Disable ``handle`` (admins and the operator): it cannot sign in, its credentials are revoked
    and it is not found any more. Disabling a disabled account changes nothing."""
    who = require_write(viewer)
    if not who.admin:
        raise Forbidden("only admins may disable accounts")
    account = _by_handle(conn, handle)
    if account.disabled:
        return account
    now = time.time()
    _change_and_revoke(conn, account.id, now, {"disabled": True})
    record(conn, Event(EventType.ACCOUNT_DISABLED, account.id, data={"by": who.account_id}))
    return replace(account, disabled=True, updated_at=now, version=account.version + 1)


def _change_and_revoke(conn: sa.Connection, account_id: str, now: float, values: Mapping[str, object]) -> None:
    """Write ``values`` to the account (a new version) and revoke all its sessions and tokens: what
    deleting, disabling and a new password have in common."""
    conn.execute(
        sa.update(accounts)
        .where(accounts.c.id == account_id)
        .values(**values, updated_at=now, version=accounts.c.version + 1)
    )
    conn.execute(
        sa.update(credentials)
        .where(credentials.c.account_id == account_id, credentials.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _by_handle(conn: sa.Connection, handle: str) -> AccountRow:
    """``handle`` whether disabled or not (for the operator's actions); deleted ones are gone."""
    key = lookup_handle(handle)
    row = None
    if key is not None:
        row = conn.execute(sa.select(accounts).where(accounts.c.handle == key, accounts.c.deleted_at.is_(None))).first()
    if row is None:
        raise NotFound(f"no account {handle!r}", field="handle")
    return AccountRow.from_row(row)
