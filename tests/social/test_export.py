"""The data export: written element by element into a zip on a stream that cannot seek, the
original files byte for byte (the avatar's too), deleted posts and comments left out, and a file
the blob store lost named in the manifest instead of failing the export."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from darkroom.social import avatars, export, posts, reactions
from darkroom.social.errors import Unauthorized
from darkroom.social.intake import UploadLimits
from darkroom.social.uploads import receive_upload
from darkroom.social.viewer import Viewer
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import assets, uploads
from tests.social.media_helpers import Recorded, jpeg_bytes, make_account


class _Pipe(io.RawIOBase):
    """A write-only stream that cannot seek or tell, like a socket."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def _post(
    conn: sa.Connection, blobs: BlobStore, who: Viewer, data: bytes, caption: str, spool_dir: Path
) -> tuple[str, str]:
    """A ready post of ``data`` (its upload marked ready as the processing loop would); its id and the upload's."""
    upload = receive_upload(
        conn, blobs, who, io.BytesIO(data), filename="p.jpg", limits=UploadLimits(), spool_dir=spool_dir,
        start=Recorded(),
    )  # fmt: skip
    conn.execute(sa.update(uploads).where(uploads.c.id == upload.id).values(state="ready"))
    return posts.create_post(conn, who, caption=caption, upload_ids=[upload.id]).id, upload.id


def test_the_export_streams_every_kind_of_data_and_the_originals(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path
) -> None:
    first, second = jpeg_bytes(), jpeg_bytes(64, 48)
    with db_engine.begin() as conn:
        ana = make_account(conn, "ana")
        kept, kept_upload = _post(conn, blobs, ana, first, "kept #light", spool_dir)
        gone, _ = _post(conn, blobs, ana, second, "gone", spool_dir)
        posts.delete_post(conn, ana, gone)
        reactions.add_comment(conn, ana, kept, "stays")
        dropped = reactions.add_comment(conn, ana, kept, "dropped")
        reactions.delete_comment(conn, ana, dropped.id)
        reactions.like(conn, ana, kept)
        avatars.receive_avatar(
            conn, blobs, ana, io.BytesIO(second), filename="me.jpg", limits=UploadLimits(), spool_dir=spool_dir,
            start=Recorded(),
        )  # fmt: skip
    pipe = _Pipe()
    with db_engine.connect() as conn:
        summary = export.write_export(conn, blobs, ana, pipe, now=1_800_000_000.0)
        with pytest.raises(Unauthorized):
            export.write_export(conn, blobs, None, _Pipe())
    assert summary.posts == 1 and summary.media == 2 and summary.comments == 1 and summary.likes == 1
    with zipfile.ZipFile(io.BytesIO(bytes(pipe.data))) as zf:
        assert zf.testzip() is None
        (post,) = json.loads(zf.read("posts.json"))
        assert post["id"] == kept and post["tags"] == ["light"] and zf.read(post["media"][0]["file"]) == first
        profile = json.loads(zf.read("profile.json"))
        assert profile["avatar"] == "media/avatar.jpg" and zf.read("media/avatar.jpg") == second
        assert [c["text"] for c in json.loads(zf.read("comments.json"))] == ["stays"]
        assert json.loads(zf.read("followers.json")) == [] and json.loads(zf.read("following.json")) == []
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["exported_at"] == "2027-01-15T08:00:00Z" and manifest["missing_media"] == []
    assert export.export_filename("ana", 1_800_000_000.0) == "darkroom-ana-2027-01-15.zip"

    with db_engine.connect() as conn:  # a file the store lost: named, not fatal
        blobs.delete(conn.execute(sa.select(assets.c.source_key).where(assets.c.id == kept_upload)).scalar_one())
        file, again = export.export_file(conn, blobs, ana, spool_dir=spool_dir)
    with file, zipfile.ZipFile(file) as zf:
        assert again.missing_media == [post["media"][0]["file"]] and again.media == 1
        assert json.loads(zf.read("manifest.json"))["missing_media"] == [post["media"][0]["file"]]
        assert post["media"][0]["file"] not in zf.namelist()
