"""Uploads: streamed to the blob store, judged by content, size limits at the limit and one byte
past it, tus offsets, ownership. The starter here records what it is asked to start; the real
runtime runs uploads in test_posts.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from darkroom.config import ConfigError, Settings
from darkroom.runtime.workflow.dag import PRIORITIES
from darkroom.services import PHOTO_RENDITIONS, STREAMING_VIDEO, PhotoRequest, StreamingRequest
from darkroom.social.errors import InvalidInput, NotFound, OffsetMismatch, TooLarge, Unauthorized
from darkroom.social.intake import SNIFF_BYTES, UploadKind, UploadLimits, sniff
from darkroom.social.processing import PHOTO_PRIORITY, VIDEO_PRIORITY, run_id_for
from darkroom.social.resumable import append_chunk, create_resumable, terminate
from darkroom.social.uploads import UploadState, get_upload, receive_upload, settle_uploads
from darkroom.social.viewer import Viewer
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import assets, uploads
from tests.social.media_helpers import CLIP_NAMED_JPG, CORPUS, CountingStream, Recorded, jpeg_bytes, make_account

LIMITS = UploadLimits()


@pytest.fixture
def people(db_engine: sa.Engine) -> tuple[Viewer, Viewer]:
    with db_engine.begin() as conn:
        return make_account(conn, "ana"), make_account(conn, "ben")


def _receive(
    engine: sa.Engine,
    blobs: BlobStore,
    who: Viewer | None,
    data: bytes,
    spool_dir: Path,
    *,
    filename: str,
    limits: UploadLimits = LIMITS,
    start: Recorded | None = None,
) -> str:
    with engine.begin() as conn:
        row = receive_upload(
            conn, blobs, who, io.BytesIO(data), filename=filename, limits=limits, spool_dir=spool_dir,
            start=start or Recorded(),
        )  # fmt: skip
    return row.id


def _nothing_stored(engine: sa.Engine, blobs: BlobStore, spool_dir: Path) -> None:
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(assets)).scalar_one() == 0
    assert list(blobs.list()) == []
    assert not spool_dir.exists() or list(spool_dir.iterdir()) == []


# -- whole uploads -------------------------------------------------------------------------------
def test_a_photo_is_stored_recorded_and_its_workflow_started(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: tuple[Viewer, Viewer]
) -> None:
    ana, _ = people
    data = jpeg_bytes()
    start = Recorded()
    with db_engine.begin() as conn:
        row = receive_upload(
            conn, blobs, ana, CountingStream(data), filename="../../etc/Holiday.JPG", limits=LIMITS,
            spool_dir=spool_dir, start=start,
        )  # fmt: skip
    assert (row.state, row.kind, row.filename) == (UploadState.PROCESSING, UploadKind.PHOTO, "Holiday.JPG")
    assert row.length_bytes == row.received_bytes == len(data)
    assert row.info == {"width": 96, "height": 64, "renditions": []}
    assert row.workflow_id == run_id_for(row.id) and row.asset_id == row.id
    with db_engine.connect() as conn:
        asset = conn.execute(sa.select(assets).where(assets.c.id == row.id)).mappings().one()
    assert (asset["kind"], asset["owner"], asset["content_type"], asset["size_bytes"]) == (
        "photo", ana.account_id, "image/jpeg", len(data)
    )  # fmt: skip
    assert asset["source_key"] == f"uploads/{ana.account_id}/{row.id}.jpg"
    assert blobs.get_bytes(asset["source_key"]) == data
    # the photo workflow, at a priority whose deadline comes long before a backfill's
    ((request, run_id),) = start.starts
    assert isinstance(request, PhotoRequest) and request.workflow == PHOTO_RENDITIONS
    assert request.source.key == asset["source_key"] and run_id == row.workflow_id
    assert request.priority == PHOTO_PRIORITY and PRIORITIES[PHOTO_PRIORITY] < PRIORITIES["standard"]
    assert list(spool_dir.iterdir()) == []  # the spool file is gone


def test_the_kind_is_decided_by_content_not_by_the_name(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: tuple[Viewer, Viewer]
) -> None:
    ana, _ = people
    start = Recorded()
    clip = _receive(db_engine, blobs, ana, CLIP_NAMED_JPG.read_bytes(), spool_dir, filename="clip.jpg", start=start)
    photo = _receive(
        db_engine, blobs, ana, (CORPUS / "photo_named.mp4").read_bytes(), spool_dir, filename="p.mp4", start=start
    )
    with db_engine.connect() as conn:
        clip_view, photo_view = get_upload(conn, ana, clip), get_upload(conn, ana, photo)
    assert clip_view.upload.kind is UploadKind.VIDEO and photo_view.upload.kind is UploadKind.PHOTO
    assert clip_view.upload.info == {"width": 160, "height": 90, "duration_s": pytest.approx(1.0, abs=0.05),
                                     "renditions": []}  # fmt: skip
    (video_request, _), (photo_request, _) = start.starts
    assert isinstance(video_request, StreamingRequest) and video_request.workflow == STREAMING_VIDEO
    assert video_request.priority == VIDEO_PRIORITY and PRIORITIES[VIDEO_PRIORITY] < PRIORITIES["standard"]
    assert video_request.source.key.endswith(".mp4")
    assert isinstance(photo_request, PhotoRequest)


@pytest.mark.parametrize(
    ("filename", "data", "why"),
    [
        ("notes.png", b"just some text, named like a picture\n" * 20, "not a known image or video format"),
        ("song.mp4", (CORPUS / "audio_only.m4a").read_bytes(), "sound only"),
        ("empty.jpg", b"", "the file is empty"),
        ("bomb.png", (CORPUS / "bomb.png").read_bytes(), r"could not read it \[decompression_bomb\]"),
        ("half.mp4", CLIP_NAMED_JPG.read_bytes()[:600], "could not read it"),
        ("fake.jpg", b"\xff\xd8\xff" + b"\x00" * 100, "no picture size"),
    ],
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about content: one backend is enough
def test_what_is_no_photo_or_video_is_refused_naming_the_file_and_nothing_is_stored(
    db_engine: sa.Engine,
    blobs: BlobStore,
    spool_dir: Path,
    people: tuple[Viewer, Viewer],
    filename: str,
    data: bytes,
    why: str,
) -> None:
    ana, _ = people
    start = Recorded()
    with pytest.raises(InvalidInput, match=why) as caught:
        _receive(db_engine, blobs, ana, data, spool_dir, filename=filename, start=start)
    assert repr(filename) in str(caught.value) and caught.value.field == "file"
    assert start.starts == []
    _nothing_stored(db_engine, blobs, spool_dir)


@pytest.mark.parametrize("kind", ["photo", "video"])
def test_size_limits_at_the_limit_and_one_byte_past_it(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: tuple[Viewer, Viewer], kind: str
) -> None:
    ana, _ = people
    data = jpeg_bytes() if kind == "photo" else CLIP_NAMED_JPG.read_bytes()
    other = 1 << 30  # the other kind's limit is generous: only this kind's applies
    at_limit = UploadLimits(max_photo_bytes=len(data), max_video_bytes=other) if kind == "photo" else (
        UploadLimits(max_photo_bytes=other, max_video_bytes=len(data))
    )  # fmt: skip
    one_under = UploadLimits(
        max_photo_bytes=at_limit.max_photo_bytes - (kind == "photo"),
        max_video_bytes=at_limit.max_video_bytes - (kind == "video"),
    )
    stream = CountingStream(data + b"\x00" * 10_000_000)  # a sender that would go on and on
    too_large = pytest.raises(TooLarge, match=f"'big' is over the {kind} limit of {len(data) - 1} bytes")
    with too_large as caught, db_engine.begin() as conn:
        receive_upload(conn, blobs, ana, stream, filename="big", limits=one_under, spool_dir=spool_dir,
                       start=Recorded())  # fmt: skip
    assert caught.value.max_bytes == len(data) - 1
    assert stream.read_bytes == len(data)  # reading stopped at the limit + 1 byte
    _nothing_stored(db_engine, blobs, spool_dir)

    upload_id = _receive(db_engine, blobs, ana, data, spool_dir, filename="exact", limits=at_limit)
    with db_engine.connect() as conn:
        assert get_upload(conn, ana, upload_id).upload.length_bytes == len(data)


def test_limits_come_from_the_environment() -> None:
    settings = Settings.from_env({"DARKROOM_MAX_PHOTO_BYTES": "1000", "DARKROOM_MAX_VIDEO_BYTES": "5000"})
    assert UploadLimits.from_settings(settings) == UploadLimits(max_photo_bytes=1000, max_video_bytes=5000)
    assert UploadLimits.from_settings(Settings()) == UploadLimits(50 << 20, 2 << 30)
    with pytest.raises(ConfigError, match="DARKROOM_MAX_VIDEO_BYTES=0"):
        Settings.from_env({"DARKROOM_MAX_VIDEO_BYTES": "0"})


def test_sniffing_names_the_kinds() -> None:
    assert sniff(b"\x89PNG\r\n\x1a\n....") is UploadKind.PHOTO
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is UploadKind.PHOTO
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00") is UploadKind.PHOTO
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00") is UploadKind.VIDEO
    assert sniff(b"\x1a\x45\xdf\xa3\x00") is UploadKind.VIDEO
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST") is UploadKind.VIDEO
    ts = bytearray(SNIFF_BYTES)
    ts[0] = ts[188] = ts[376] = 0x47
    assert sniff(bytes(ts)) is UploadKind.VIDEO
    assert sniff(b"%PDF-1.7") is None and sniff(b"<svg") is None


def test_uploads_are_their_owners_only(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: tuple[Viewer, Viewer]
) -> None:
    ana, ben = people
    upload_id = _receive(db_engine, blobs, ana, jpeg_bytes(), spool_dir, filename="a.jpg")
    with db_engine.connect() as conn:
        view = get_upload(conn, ana, upload_id)
        assert view.upload.state is UploadState.PROCESSING and view.progress == 0.0  # its run has not begun
        for other in (ben, None):
            with pytest.raises(NotFound, match=f"no upload {upload_id}"):
                get_upload(conn, other, upload_id)
        with pytest.raises(InvalidInput, match="upload_id 'nope' is not a Darkroom id"):
            get_upload(conn, ana, "nope")
    with pytest.raises(Unauthorized):
        _receive(db_engine, blobs, None, jpeg_bytes(), spool_dir, filename="a.jpg")


def test_a_lost_start_is_started_again_by_the_processing_loop(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: tuple[Viewer, Viewer]
) -> None:
    """The process died between the commit and the start: the upload has no run. After
    ``restart_after_s`` the loop starts it (the same run id, so a late first start is harmless)."""
    ana, _ = people
    upload_id = _receive(db_engine, blobs, ana, jpeg_bytes(), spool_dir, filename="a.jpg")
    again = Recorded()
    with db_engine.begin() as conn:
        updated_at = get_upload(conn, ana, upload_id).upload.updated_at
        assert settle_uploads(conn, start=again, restart_after_s=30, now=updated_at + 29) == []
        assert again.starts == []
        assert settle_uploads(conn, start=again, restart_after_s=30, now=updated_at + 31) == []
    ((request, run_id),) = again.starts
    assert isinstance(request, PhotoRequest) and run_id == run_id_for(upload_id)
    with db_engine.begin() as conn:  # and not again at once: the next try waits as long
        settle_uploads(conn, start=again, restart_after_s=30, now=updated_at + 32)
    assert len(again.starts) == 1


# -- resumable uploads (tus) ---------------------------------------------------------------------
def _append(engine: sa.Engine, who: Viewer, upload_id: str, offset: int, data: bytes, spool_dir: Path,
            blobs: BlobStore, start: Recorded | None = None, limits: UploadLimits = LIMITS) -> int:  # fmt: skip
    with engine.begin() as conn:
        return append_chunk(
            conn, who, upload_id, offset, io.BytesIO(data), blobs=blobs, limits=limits, spool_dir=spool_dir,
            start=start or Recorded(),
        ).offset  # fmt: skip


def test_tus_chunks_at_the_right_offset_and_a_wrong_one(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: tuple[Viewer, Viewer]
) -> None:
    ana, ben = people
    data = CLIP_NAMED_JPG.read_bytes()
    with db_engine.begin() as conn:
        row = create_resumable(conn, ana, length_bytes=len(data), filename="clip.mov", limits=LIMITS)
    assert (row.state, row.kind, row.received_bytes) == (UploadState.RECEIVING, None, 0)
    # a first chunk shorter than the signatures: the kind waits for more
    assert _append(db_engine, ana, row.id, 0, data[:100], spool_dir, blobs) == 100
    assert _append(db_engine, ana, row.id, 100, data[100:5000], spool_dir, blobs) == 5000
    with db_engine.connect() as conn:
        view = get_upload(conn, ana, row.id)
    assert (view.upload.kind, view.upload.received_bytes, view.progress) == (UploadKind.VIDEO, 5000, 0.0)
    # a chunk at another offset: 409, naming where the upload stands
    for wrong in (4000, 6000):
        with pytest.raises(OffsetMismatch, match=f"stands at offset 5000, not {wrong}") as caught:
            _append(db_engine, ana, row.id, wrong, data[wrong:], spool_dir, blobs)
        assert caught.value.expected_offset == 5000
    # someone else's upload does not exist for them
    with pytest.raises(NotFound):
        _append(db_engine, ben, row.id, 5000, data[5000:], spool_dir, blobs)
    # past the declared length: refused, the received part kept
    with pytest.raises(InvalidInput, match="goes past the declared length"):
        _append(db_engine, ana, row.id, 5000, data[5000:] + b"extra", spool_dir, blobs)
    # the last chunk: processing starts
    start = Recorded()
    assert _append(db_engine, ana, row.id, 5000, data[5000:], spool_dir, blobs, start) == len(data)
    with db_engine.connect() as conn:
        done = get_upload(conn, ana, row.id).upload
        source_key = conn.execute(sa.select(assets.c.source_key).where(assets.c.id == row.id)).scalar_one()
    assert done.state is UploadState.PROCESSING and done.workflow_id == run_id_for(row.id)
    assert blobs.get_bytes(source_key) == data
    assert [r for _, r in start.starts] == [run_id_for(row.id)]
    assert list(spool_dir.iterdir()) == []
    # complete: an empty PATCH at the end answers the end; more bytes are refused
    assert _append(db_engine, ana, row.id, len(data), b"", spool_dir, blobs) == len(data)
    with pytest.raises(InvalidInput, match="is complete"):
        _append(db_engine, ana, row.id, len(data), b"x", spool_dir, blobs)


def test_tus_terminate(db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: tuple[Viewer, Viewer]) -> None:
    ana, ben = people
    data = jpeg_bytes()
    with db_engine.begin() as conn:
        row = create_resumable(conn, ana, length_bytes=len(data), filename="a.jpg", limits=LIMITS)
    _append(db_engine, ana, row.id, 0, data[:600], spool_dir, blobs)
    with db_engine.begin() as conn, pytest.raises(NotFound):
        terminate(conn, ben, row.id, spool_dir=spool_dir)
    with db_engine.begin() as conn:
        terminate(conn, ana, row.id, spool_dir=spool_dir)
    assert list(spool_dir.iterdir()) == []
    with db_engine.connect() as conn, pytest.raises(NotFound):
        get_upload(conn, ana, row.id)
    with pytest.raises(NotFound):
        _append(db_engine, ana, row.id, 600, data[600:], spool_dir, blobs)


def test_tus_lengths_and_contents_the_limits_refuse(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: tuple[Viewer, Viewer]
) -> None:
    ana, _ = people
    photo = jpeg_bytes()
    limits = UploadLimits(max_photo_bytes=len(photo) - 1, max_video_bytes=len(photo) * 10)
    with db_engine.begin() as conn:
        with pytest.raises(TooLarge, match=f"over the limit of {len(photo) * 10} bytes"):
            create_resumable(conn, ana, length_bytes=len(photo) * 10 + 1, filename="a.mp4", limits=limits)
        for bad in (0, -1, True, "12"):
            with pytest.raises(InvalidInput, match="length_bytes"):
                create_resumable(conn, ana, length_bytes=bad, filename="a", limits=limits)  # type: ignore[arg-type]
        too_big_photo = create_resumable(conn, ana, length_bytes=len(photo), filename="a.jpg", limits=limits)
        text = create_resumable(conn, ana, length_bytes=2000, filename="notes.png", limits=limits)
    # the first bytes say photo, whose limit the declared length passes
    with pytest.raises(TooLarge, match=f"'a.jpg' is over the photo limit of {len(photo) - 1} bytes"):
        _append(db_engine, ana, too_big_photo.id, 0, photo[:1000], spool_dir, blobs, limits=limits)
    with pytest.raises(InvalidInput, match=r"'notes\.png' is not a photo or a video"):
        _append(db_engine, ana, text.id, 0, b"text " * 400, spool_dir, blobs, limits=limits)
    assert list(spool_dir.iterdir()) == []  # what can never be accepted is not kept
    assert list(blobs.list()) == []


def test_the_http_edge_answers_413_for_too_large_and_409_for_a_wrong_offset() -> None:
    from darkroom.api.problems import problem_for
    from darkroom.web.problems import HTTP_STATUSES

    too_large = problem_for(TooLarge("'a.mov' is over the video limit", max_bytes=10, field="file"), HTTP_STATUSES)
    assert (too_large.status, too_large.code, too_large.field) == (413, "too_large", "file")
    mismatch = problem_for(OffsetMismatch("stands at offset 5", expected_offset=5), HTTP_STATUSES)
    assert (mismatch.status, mismatch.code) == (409, "offset_mismatch")
