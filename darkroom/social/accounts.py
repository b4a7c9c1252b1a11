"""Accounts: sign-up, profiles, edits with an update mask, soft deletion, and the operator's actions.

Every function takes an open connection inside the caller's transaction and writes its event there
(``events.record``). A deleted or disabled account is not found by anyone; its handle and email
stay taken (the row stays, for the purge and for history). Counters are not written here: the
counter consumer recomputes them from the rows.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace

import sqlalchemy as sa

from darkroom.social import passwords
from darkroom.social.errors import AlreadyExists, Forbidden, InvalidInput, NotFound, PreconditionFailed
from darkroom.social.events import Event, EventType, record
from darkroom.social.handles import lookup_handle, normalize_email, normalize_handle
from darkroom.social.ids import check_id, new_id
from darkroom.social.paging import Keyset, Page, check_limit, decode_keyset, encode_keyset
from darkroom.social.viewer import Role, Viewer, require, require_write
from darkroom.social.visibility import blocked_between
from darkroom.storage.schema import accounts, blocks, credentials, follows, uploads

__all__ = [
    "BIO_MAX_CHARS",
    "DISPLAY_NAME_MAX_CHARS",
    "OPERATOR",
    "UPDATABLE_FIELDS",
    "AccountChanges",
    "AccountRow",
    "NewAccount",
    "create_account",
    "delete_account",
    "disable_account",
    "get_account",
    "get_accounts_by_id",
    "insert_account",
    "list_accounts",
    "live",
    "prepare_account",
    "search_accounts",
    "set_password",
    "touch_last_seen",
    "update_account",
]

DISPLAY_NAME_MAX_CHARS = 64
BIO_MAX_CHARS = 500
UPDATABLE_FIELDS = ("display_name", "bio", "private", "avatar")
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


@dataclass(frozen=True, slots=True)
class AccountChanges:
    """The body of an account update; only the fields in the update mask are applied, and a masked
    field left at its default here is cleared (AIP-134)."""

    display_name: str = ""
    bio: str = ""
    private: bool = False
    avatar_upload_id: str = ""  # a photo upload of the account's own; "" clears the avatar


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


# -- writes ----------------------------------------------------------------------------------------
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
    display_name, private = _check_display_name(display_name), _check_private(private)
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


def update_account(
    conn: sa.Connection,
    viewer: Viewer | None,
    changes: AccountChanges,
    update_mask: str | Collection[str],
    *,
    expected_version: int | None = None,
) -> AccountRow:
    """Apply the masked fields of ``changes`` to the viewer's account and bump its ``version``.

    ``update_mask`` names the fields (``display_name``, ``bio``, ``private``, ``avatar``; ``*`` for all; a
    comma-separated string or a collection). ``expected_version`` (the ETag) makes a stale edit
    :class:`PreconditionFailed`. Turning a private account public accepts its pending requests."""
    who = require_write(viewer)
    paths = _check_mask(update_mask)
    values: dict[str, object] = {}
    if "display_name" in paths:
        values["display_name"] = _check_display_name(changes.display_name)
    if "bio" in paths:
        values["bio"] = _check_bio(changes.bio)
    if "private" in paths:
        values["private"] = _check_private(changes.private)
    if "avatar" in paths:
        values["avatar_upload_id"] = _check_avatar(conn, who.account_id, changes.avatar_upload_id)
    current = _live_by_id(conn, who.account_id)
    if expected_version is not None and current.version != expected_version:
        raise PreconditionFailed(
            f"@{current.handle} is at version {current.version}, not {expected_version}: read it again, then retry",
            field="etag",
        )
    now = time.time()
    update = (
        sa.update(accounts)
        .where(accounts.c.id == current.id, accounts.c.version == current.version)
        .values(**values, version=current.version + 1, updated_at=now)
    )
    if conn.execute(update).rowcount != 1:  # another writer got in between the read and this update
        raise PreconditionFailed(f"@{current.handle} changed while being updated: read it again, then retry")
    if current.private and values.get("private") is False:
        _accept_pending_requests(conn, current.id, now)
    record(conn, Event(EventType.ACCOUNT_UPDATED, current.id, data={"fields": sorted(paths)}))
    return replace(current, **values, version=current.version + 1, updated_at=now)  # type: ignore[arg-type]


def delete_account(conn: sa.Connection, viewer: Viewer | None) -> None:
    """Soft-delete the viewer's account: it is not found any more and its credentials are revoked.
    Purging its media is the purge consumer's work, on ``account.deleted``."""
    who = require_write(viewer)
    current = _live_by_id(conn, who.account_id)
    now = time.time()
    _change_and_revoke(conn, current.id, now, {"deleted_at": now})
    record(conn, Event(EventType.ACCOUNT_DELETED, current.id, data={"handle": current.handle}))


def set_password(conn: sa.Connection, viewer: Viewer | None, handle: str, password: str) -> None:
    """Replace the password of ``handle`` (the viewer's own, or any for an admin or the
    :data:`OPERATOR`; disabled accounts too) and revoke its sessions and tokens."""
    who = require_write(viewer)
    account = _by_handle(conn, handle)
    if account.id != who.account_id and not who.admin:
        raise Forbidden(f"only @{account.handle} or an admin may set @{account.handle}'s password")
    password_hash = passwords.hash_password(password)
    now = time.time()
    _change_and_revoke(conn, account.id, now, {"password_hash": password_hash})
    record(conn, Event(EventType.ACCOUNT_UPDATED, account.id, data={"fields": ["password"], "by": who.account_id}))


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
    _revoke_all(conn, account_id, now)


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


# -- helpers ---------------------------------------------------------------------------------------
def _check_avatar(conn: sa.Connection, account_id: str, upload_id: str) -> str | None:
    """``upload_id`` when it is a photo upload of ``account_id`` that is not failed or given up
    (processing is fine: the avatar shows once its renditions are ready); None for ""."""
    if upload_id == "":
        return None
    check_id(upload_id, field="avatar.id")
    row = conn.execute(
        sa.select(uploads.c.kind, uploads.c.state).where(uploads.c.id == upload_id, uploads.c.account_id == account_id)
    ).first()
    if row is None:
        raise InvalidInput(f"avatar.id {upload_id!r} is not an upload of yours", field="avatar.id")
    if row.kind != "photo" or row.state not in ("processing", "ready"):
        raise InvalidInput(
            f"avatar.id {upload_id!r} is a {row.state} {row.kind or 'file'} upload; an avatar is a photo",
            field="avatar.id",
        )
    return upload_id


def _check_mask(update_mask: str | Collection[str]) -> set[str]:
    raw = update_mask.split(",") if isinstance(update_mask, str) else list(update_mask)
    paths = {p.strip() for p in raw if isinstance(p, str) and p.strip()}
    if not paths:
        raise InvalidInput(
            f"update_mask is empty: name the fields to change ({', '.join(UPDATABLE_FIELDS)}) or *",
            field="update_mask",
        )
    if "*" in paths:
        return set(UPDATABLE_FIELDS)
    unknown = sorted(paths - set(UPDATABLE_FIELDS))
    if unknown:
        raise InvalidInput(
            f"update_mask path {unknown[0]!r} is not a field an account may change ({', '.join(UPDATABLE_FIELDS)})",
            field="update_mask",
        )
    return paths


def _check_text(value: object, name: str, max_chars: int, allowed_controls: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, not {type(value).__name__}", field=name)
    text = value.replace("\r\n", "\n").strip()
    if len(text) > max_chars:
        raise InvalidInput(f"{name} {text[:20]!r}… is {len(text)} characters long: at most {max_chars}", field=name)
    bad = next((ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in allowed_controls), None)
    if bad is not None:
        raise InvalidInput(f"{name} {text[:40]!r} contains the control character {bad!r}", field=name)
    return text


def _check_display_name(value: object) -> str:
    return _check_text(value, "display_name", DISPLAY_NAME_MAX_CHARS, "")


def _check_bio(value: object) -> str:
    return _check_text(value, "bio", BIO_MAX_CHARS, "\n")


def _check_private(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"private {value!r} is not true or false", field="private")
    return value


def _refuse_taken(conn: sa.Connection, handle: str, email: str) -> None:
    taken = conn.execute(
        sa.select(accounts.c.handle).where(sa.or_(accounts.c.handle == handle, accounts.c.email == email))
    ).first()
    if taken is None:
        return
    if taken.handle == handle:
        raise AlreadyExists(f"the handle @{handle} is taken", field="handle")
    raise AlreadyExists(f"the email {email!r} already has an account", field="email")


def _in_block_with(conn: sa.Connection, viewer: Viewer, account_id: str) -> bool:
    """Whether a block hides ``account_id`` from ``viewer`` (never from itself or an admin)."""
    return not viewer.admin and viewer.account_id != account_id and blocked_between(conn, viewer.account_id, account_id)


def _live_by_id(conn: sa.Connection, account_id: str) -> AccountRow:
    row = conn.execute(sa.select(accounts).where(accounts.c.id == check_id(account_id), live())).first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    return AccountRow.from_row(row)


def _by_handle(conn: sa.Connection, handle: str) -> AccountRow:
    """``handle`` whether disabled or not (for the operator's actions); deleted ones are gone."""
    key = lookup_handle(handle)
    row = None
    if key is not None:
        row = conn.execute(sa.select(accounts).where(accounts.c.handle == key, accounts.c.deleted_at.is_(None))).first()
    if row is None:
        raise NotFound(f"no account {handle!r}", field="handle")
    return AccountRow.from_row(row)


def _revoke_all(conn: sa.Connection, account_id: str, now: float) -> None:
    conn.execute(
        sa.update(credentials)
        .where(credentials.c.account_id == account_id, credentials.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _accept_pending_requests(conn: sa.Connection, account_id: str, now: float) -> None:
    """A public account has no requests: every pending one becomes a follow (``account.followed``
    each, the follower acting, as when a request is accepted)."""
    pending = follows.c.followee_id == account_id, follows.c.state == "requested"
    requesters = list(conn.execute(sa.select(follows.c.follower_id).where(*pending)).scalars())
    if not requesters:
        return
    conn.execute(sa.update(follows).where(*pending, follows.c.follower_id.in_(requesters)).values(state="active"))
    record(
        conn,
        *(
            Event(EventType.ACCOUNT_FOLLOWED, r, occurred_at=now, data={"followee_id": account_id, "accepted": True})
            for r in requesters
        ),
    )


_COLUMNS = {f.name for f in fields(AccountRow)}
assert set(accounts.c.keys()) == _COLUMNS, "AccountRow must mirror the accounts table"
