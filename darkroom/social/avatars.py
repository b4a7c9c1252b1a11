"""Avatars: a photo sent as an account's picture in one step (the settings page's form).

The file goes the way of every upload (:func:`~darkroom.social.uploads.receive_upload`: spooled,
judged by content, stored in the blob store, processed by the ``photo.renditions`` workflow) with
an avatar's own rules: a photo only (a video is :class:`UnsupportedMedia` naming the file), at
most :data:`AVATAR_MAX_BYTES` (:class:`TooLarge` naming it), and small renditions
(:data:`AVATAR_SPEC`: an avatar is shown 96 px wide at most). The account then points at the
upload (``account_edits``, field ``avatar``), so it reads like an avatar set through the API.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from darkroom.social.account_edits import AccountChanges, update_account
from darkroom.social.accounts import AccountRow
from darkroom.social.intake import UploadKind, UploadLimits
from darkroom.social.processing import WorkStarter
from darkroom.social.uploads import receive_upload
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.blobs import BlobStore

__all__ = ["AVATAR_FIELD", "AVATAR_MAX_BYTES", "AVATAR_SPEC", "avatar_limits", "clear_avatar", "receive_avatar"]

AVATAR_FIELD = "avatar"
AVATAR_MAX_BYTES = 10 << 20
# two widths for 1x and 2x-3x screens, and the square thumbnail; WebP and JPEG (AVIF's encode time
# buys little at this size)
AVATAR_SPEC: dict[str, object] = {"widths": [320, 160], "thumb_size": 96, "formats": ["jpeg", "webp"]}


def avatar_limits(limits: UploadLimits) -> UploadLimits:
    """The server's upload limits narrowed to an avatar's (never above its photo limit)."""
    cap = min(AVATAR_MAX_BYTES, limits.max_photo_bytes)
    # a video is refused by kind once sniffed; its cap only bounds what is read before that
    return replace(limits, max_photo_bytes=cap, max_video_bytes=cap)


def receive_avatar(
    conn: sa.Connection,
    blobs: BlobStore,
    viewer: Viewer | None,
    stream: BinaryIO,
    *,
    filename: str,
    limits: UploadLimits,
    spool_dir: Path,
    start: WorkStarter,
) -> AccountRow:
    """Take ``stream`` as the viewer's new avatar and set it; the edited account. The avatar shows
    once its renditions are ready (until then the profile shows the initial)."""
    who = require_write(viewer)
    upload = receive_upload(
        conn, blobs, who, stream, filename=filename, limits=avatar_limits(limits), spool_dir=spool_dir,
        start=start, kinds=(UploadKind.PHOTO,), spec=AVATAR_SPEC, field=AVATAR_FIELD,
    )  # fmt: skip
    return update_account(conn, who, AccountChanges(avatar_upload_id=upload.id), [AVATAR_FIELD])


def clear_avatar(conn: sa.Connection, viewer: Viewer | None) -> AccountRow:
    """Remove the viewer's avatar (the profile shows the initial again)."""
    return update_account(conn, viewer, AccountChanges(avatar_upload_id=""), [AVATAR_FIELD])
