"""Avatars: one step from a file to the account's picture, a photo only, an avatar's size limit,
small renditions asked of the workflow (and asked again by a restarted run)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from darkroom.services import PhotoRequest
from darkroom.social import accounts, avatars
from darkroom.social.errors import TooLarge, UnsupportedMedia
from darkroom.social.intake import UploadLimits
from darkroom.social.uploads import get_upload, settle_uploads
from darkroom.social.viewer import Viewer
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import assets
from tests.social.media_helpers import CLIP_NAMED_JPG, Recorded, jpeg_bytes, make_account


def _send(engine: sa.Engine, blobs: BlobStore, who: Viewer, data: bytes, spool_dir: Path, **kw: object) -> Recorded:
    started = Recorded()
    with engine.begin() as conn:
        avatars.receive_avatar(
            conn, blobs, who, io.BytesIO(data), filename=str(kw.get("filename", "me.jpg")),
            limits=UploadLimits(), spool_dir=spool_dir, start=started,
        )  # fmt: skip
    return started


def test_an_avatar_is_set_in_one_step_with_small_renditions(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path
) -> None:
    with db_engine.begin() as conn:
        ana = make_account(conn, "ana")
    started = _send(db_engine, blobs, ana, jpeg_bytes(), spool_dir)
    ((request, run_id),) = started.starts
    assert isinstance(request, PhotoRequest) and request.spec == avatars.AVATAR_SPEC
    with db_engine.begin() as conn:
        upload_id = accounts.get_account(conn, "ana").avatar_upload_id
        assert upload_id is not None and run_id == f"wf_{upload_id.lower()}"
        updated_at = get_upload(conn, ana, upload_id).upload.updated_at
        again = Recorded()  # the start was lost: the processing loop asks for the same renditions
        settle_uploads(conn, start=again, restart_after_s=30, now=updated_at + 31)
    ((restarted, _),) = again.starts
    assert isinstance(restarted, PhotoRequest) and restarted.spec == avatars.AVATAR_SPEC
    with db_engine.begin() as conn:
        avatars.clear_avatar(conn, ana)
        assert accounts.get_account(conn, "ana").avatar_upload_id is None


def test_an_avatar_is_a_photo_within_its_limit(db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path) -> None:
    with db_engine.begin() as conn:
        ana = make_account(conn, "ana")
    with pytest.raises(UnsupportedMedia, match=r"'clip.jpg' is a video: only a photo is taken here") as video:
        _send(db_engine, blobs, ana, CLIP_NAMED_JPG.read_bytes(), spool_dir, filename="clip.jpg")
    assert video.value.field == "avatar"
    cap = avatars.AVATAR_MAX_BYTES
    at_limit = jpeg_bytes()
    with pytest.raises(TooLarge, match=rf"'big.jpg' is over the photo limit of {cap} bytes") as big:
        _send(db_engine, blobs, ana, at_limit + b"\x00" * (cap + 1 - len(at_limit)), spool_dir, filename="big.jpg")
    assert big.value.max_bytes == cap
    assert avatars.avatar_limits(UploadLimits(max_photo_bytes=1000)).max_photo_bytes == 1000  # never above the server's
    with db_engine.begin() as conn:
        assert accounts.get_account(conn, "ana").avatar_upload_id is None
        assert conn.execute(sa.select(sa.func.count()).select_from(assets)).scalar_one() == 0
    assert list(blobs.list()) == []
