"""Account rows → ``Account`` messages: the columns (with the avatar joined only when selected),
the row → message mapping the posts statement shares, and :func:`load_accounts`."""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

import sqlalchemy as sa

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.fieldmask import Mask
from darkroom.api.timestamps import timestamp_from_s
from darkroom.social import media, relations
from darkroom.social.media import PLAIN_URLS, MediaUrls
from darkroom.social.relations import Relations
from darkroom.social.resources.masks import VIEWER_FIELDS, MaskArg, account_mask, has, project, sub
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import accounts, uploads

__all__ = [
    "AVATARS",
    "account_columns",
    "account_from_row",
    "avatar_media",
    "load_accounts",
    "load_related",
    "set_viewer_fields",
]

AVATARS = uploads.alias("avatar")
_ACCOUNT_COLUMNS = (
    "id", "handle", "display_name", "bio", "private", "follower_count", "following_count", "post_count", "created_at",
)  # fmt: skip
_AVATAR_COLUMNS = ("id", "kind", "state", "info")


def account_columns(prefix: str, avatar: bool) -> list[sa.Label[object]]:
    """An account's columns labelled ``prefix + name`` (and its avatar's, ``prefix + avatar_name``)."""
    cols = [accounts.c[name].label(prefix + name) for name in _ACCOUNT_COLUMNS]
    if avatar:
        cols += [AVATARS.c[name].label(f"{prefix}avatar_{name}") for name in _AVATAR_COLUMNS]
    return cols


def account_from_row(row: sa.RowMapping, prefix: str, avatar: bool) -> pb.Account:
    """The Account of the columns :func:`account_columns` labelled with ``prefix``."""
    a = pb.Account(
        id=row[prefix + "id"],
        handle=row[prefix + "handle"],
        display_name=row[prefix + "display_name"],
        bio=row[prefix + "bio"],
        private=row[prefix + "private"],
        follower_count=row[prefix + "follower_count"],
        following_count=row[prefix + "following_count"],
        post_count=row[prefix + "post_count"],
    )
    a.created_at.CopyFrom(timestamp_from_s(row[prefix + "created_at"], "created_at"))
    if avatar and row[prefix + "avatar_id"] is not None:
        a.avatar.CopyFrom(
            media.from_upload(
                cast(str, row[prefix + "avatar_id"]),
                cast("str | None", row[prefix + "avatar_kind"]),
                cast(str, row[prefix + "avatar_state"]),
                row[prefix + "avatar_info"],
            )
        )
    return a


def avatar_media(account: pb.Account) -> list[pb.Media]:
    return [account.avatar] if account.HasField("avatar") else []


def set_viewer_fields(account: pb.Account, edges: Relations) -> None:
    account.followed_by_me = account.id in edges.following
    account.requested_by_me = account.id in edges.requested
    account.follows_me = account.id in edges.followers
    account.blocked_by_me = account.id in edges.blocking


def load_accounts(
    conn: sa.Connection,
    account_ids: Collection[str],
    viewer: Viewer | None,
    mask: MaskArg = None,
    *,
    urls: MediaUrls = PLAIN_URLS,
) -> dict[str, pb.Account]:
    """The accounts of ``account_ids`` that exist and do not block the viewer (an account the
    viewer blocks stays readable to it, so it can be unblocked), in at most two statements."""
    m = account_mask(mask)
    if not account_ids:
        return {}
    avatar = has(m, "avatar")
    query = sa.select(*account_columns("", avatar)).where(
        accounts.c.id.in_(sorted(set(account_ids))), accounts.c.deleted_at.is_(None)
    )
    if avatar:
        query = query.select_from(accounts.outerjoin(AVATARS, AVATARS.c.id == accounts.c.avatar_upload_id))
    found = {str(row["id"]): account_from_row(row, "", avatar) for row in conn.execute(query).mappings()}
    edges = relations.NONE
    wants_edges = any(has(m, f) for f in VIEWER_FIELDS)
    if viewer is not None and found and (wants_edges or not viewer.admin):
        edges = relations.load(conn, viewer.account_id, found)
    out: dict[str, pb.Account] = {}
    for id_, account in found.items():
        if viewer is not None and not viewer.admin and id_ in edges.blocked_by:
            continue
        if viewer is not None and wants_edges:
            set_viewer_fields(account, edges)
        media.sign(avatar_media(account), urls, private=account.private)
        project(account, m)
        out[id_] = account
    return out


def load_related(
    conn: sa.Connection,
    mask: Mask,
    field: str,
    account_ids: Collection[str],
    viewer: Viewer | None,
    *,
    urls: MediaUrls,
) -> dict[str, pb.Account]:
    """The accounts of ``account_ids`` with what ``mask`` selects inside its Account field
    ``field`` (a comment's author, a like's account); none loaded when it selects nothing."""
    inner = sub(mask, field, pb.Account.DESCRIPTOR)
    return {} if inner is None else load_accounts(conn, account_ids, viewer, inner, urls=urls)
