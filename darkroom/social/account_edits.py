"""Profile edits: an account changes its own display name, bio, avatar and privacy, with an
update mask (AIP-134) and an optional expected version (the ETag).

Like every domain function, :func:`update_account` takes an open connection inside the caller's
transaction and writes its event there (``events.record``).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, replace

import sqlalchemy as sa

from darkroom.social.accounts import BIO_MAX_CHARS, DISPLAY_NAME_MAX_CHARS, AccountRow, get_account_by_id
from darkroom.social.errors import InvalidInput, PreconditionFailed
from darkroom.social.events import Event, EventType, record
from darkroom.social.ids import check_id
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.schema import accounts, follows, uploads

__all__ = [
    "UPDATABLE_FIELDS",
    "AccountChanges",
    "check_display_name",
    "check_private",
    "update_account",
]

UPDATABLE_FIELDS = ("display_name", "bio", "private", "avatar")


@dataclass(frozen=True, slots=True)
class AccountChanges:
    """The body of an account update; only the fields in the update mask are applied, and a masked
    field left at its default here is cleared (AIP-134)."""

    display_name: str = ""
    bio: str = ""
    private: bool = False
    avatar_upload_id: str = ""  # a photo upload of the account's own; "" clears the avatar


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
        values["display_name"] = check_display_name(changes.display_name)
    if "bio" in paths:
        values["bio"] = _check_bio(changes.bio)
    if "private" in paths:
        values["private"] = check_private(changes.private)
    if "avatar" in paths:
        values["avatar_upload_id"] = _check_avatar(conn, who.account_id, changes.avatar_upload_id)
    current = get_account_by_id(conn, who.account_id)
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


# -- the fields ------------------------------------------------------------------------------------
def check_display_name(value: object) -> str:
    """``value`` as a display name: trimmed, at most :data:`DISPLAY_NAME_MAX_CHARS`, no control characters."""
    return _check_text(value, "display_name", DISPLAY_NAME_MAX_CHARS, "")


def check_private(value: object) -> bool:
    """``value`` when it is a bool (a string or a number is not)."""
    if not isinstance(value, bool):
        raise InvalidInput(f"private {value!r} is not true or false", field="private")
    return value


def _check_bio(value: object) -> str:
    return _check_text(value, "bio", BIO_MAX_CHARS, "\n")


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
