"""Posts: 1-10 uploads (10 and 11, a broken one in the middle), captions at their limit, edits with
versions, deletes, and the processing lifecycle through the real runtime (a photo, a 1 s clip, a
photo the pipeline rejects) down to the purge of the media."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
import sqlalchemy as sa
from PIL import Image

import darkroom.queue as dq
from darkroom.runtime.files import read_tree
from darkroom.services import registry
from darkroom.social.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from darkroom.social.posts import (
    PostRow,
    PostState,
    advance_processing,
    create_post,
    delete_post,
    load_post,
    purge_deleted,
    update_caption,
)
from darkroom.social.processing import AfterCommit
from darkroom.social.resumable import create_resumable, terminate
from darkroom.social.uploads import UploadLimits, UploadState, get_upload, receive_upload
from darkroom.social.viewer import Viewer
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import assets, mentions, outbox, post_media, post_tags, posts, uploads, workflows
from tests.runtime.conftest import Platform
from tests.social.media_helpers import (
    CLIP_NAMED_JPG,
    CheapStarts,
    Recorded,
    block,
    event_types,
    jpeg_bytes,
    make_account,
)

LIMITS = UploadLimits()


@pytest.fixture
def people(db_engine: sa.Engine) -> dict[str, Viewer]:
    with db_engine.begin() as conn:
        ana, ben, cat = make_account(conn, "ana"), make_account(conn, "ben"), make_account(conn, "cat")
        dee = make_account(conn, "dee", private=True)
        root = make_account(conn, "root", admin=True)
        block(conn, cat, ana)  # cat blocks ana: ana cannot mention cat
    return {"ana": ana, "ben": ben, "cat": cat, "dee": dee, "root": root}


def _upload(engine: sa.Engine, blobs: BlobStore, spool_dir: Path, who: Viewer, n: int = 1) -> list[str]:
    ids = []
    with engine.begin() as conn:
        for _ in range(n):
            row = receive_upload(conn, blobs, who, io.BytesIO(jpeg_bytes()), filename="p.jpg", limits=LIMITS,
                                 spool_dir=spool_dir, start=Recorded())  # fmt: skip
            ids.append(row.id)
    return ids


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _nothing_written(engine: sa.Engine) -> None:
    for table in (posts, post_media, post_tags, mentions):
        assert _count(engine, table) == 0, table.name
    with engine.connect() as conn:
        assert event_types(conn) == []


# -- creating ------------------------------------------------------------------------------------
def test_a_post_of_ten_uploads_with_its_tags_and_mentions(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer]
) -> None:
    ana = people["ana"]
    ids = _upload(db_engine, blobs, spool_dir, ana, 10)
    caption = "Sun! #Beach #beach #été with @Ben, @cat and @nobody <b>bold</b>"
    with db_engine.begin() as conn:
        post = create_post(conn, ana, caption=caption, upload_ids=ids)
    assert post.state is PostState.PROCESSING and post.upload_ids == tuple(ids) and post.version == 1
    assert post.caption == caption  # stored as given: escaping is the renderers' job
    with db_engine.connect() as conn:
        tags = conn.execute(sa.select(post_tags.c.tag).where(post_tags.c.post_id == post.id)).scalars()
        assert sorted(tags) == ["beach", "été"]
        mentioned = conn.execute(sa.select(mentions.c.account_id).where(mentions.c.post_id == post.id)).scalars()
        assert list(mentioned) == [people["ben"].account_id]  # not cat (blocks ana), not nobody (no account)
        assert event_types(conn) == ["post.created"]
        payload = conn.execute(sa.select(outbox.c.payload)).scalar_one()
        assert orjson.loads(payload["data"]) == {"upload_ids": ids, "tags": ["beach", "été"]}  # for analytics


def test_eleven_uploads_or_none_are_refused(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer]
) -> None:
    ids = _upload(db_engine, blobs, spool_dir, people["ana"], 11)
    with db_engine.begin() as conn:
        for given, count in ((ids, 11), ([], 0)):
            with pytest.raises(InvalidInput, match=f"a post has 1 to 10 uploads, not {count}"):
                create_post(conn, people["ana"], caption="", upload_ids=given)
        with pytest.raises(InvalidInput, match="must be a list"):
            create_post(conn, people["ana"], caption="", upload_ids=ids[0])
    _nothing_written(db_engine)


def test_a_broken_upload_in_the_middle_stores_nothing(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer]
) -> None:
    ana = people["ana"]
    mine = _upload(db_engine, blobs, spool_dir, ana, 4)
    (bens,) = _upload(db_engine, blobs, spool_dir, people["ben"])
    with db_engine.begin() as conn:
        receiving = create_resumable(conn, ana, length_bytes=1000, filename="big.mov", limits=LIMITS).id
        given_up = create_resumable(conn, ana, length_bytes=1000, filename="x.mov", limits=LIMITS).id
        terminate(conn, ana, given_up, spool_dir=spool_dir)
    cases = {
        bens: f"upload {bens} is not one of your uploads",
        given_up: f"upload {given_up} is not one of your uploads",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV": "upload 01ARZ3NDEKTSV4RRFFQ69G5FAV is not one of your uploads",
        receiving: rf"upload {receiving} is still receiving \(0 of 1000 bytes\)",
        mine[0]: f"upload {mine[0]} is listed twice",
        "not-an-id": "upload_ids 'not-an-id' is not a Darkroom id",
    }
    for bad, message in cases.items():
        with db_engine.begin() as conn, pytest.raises(InvalidInput, match=message) as caught:
            create_post(conn, ana, caption="#x @ben", upload_ids=[*mine[:2], bad, *mine[2:]])
        assert caught.value.field == "upload_ids"
    _nothing_written(db_engine)
    # an upload already in a post
    with db_engine.begin() as conn:
        first = create_post(conn, ana, caption="", upload_ids=mine[:1])
    with db_engine.begin() as conn, pytest.raises(InvalidInput, match=f"already in post {first.id}"):
        create_post(conn, ana, caption="", upload_ids=mine[1:2] + mine[:1])
    assert _count(db_engine, posts) == 1


def test_a_caption_at_2200_characters_and_at_2201(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer]
) -> None:
    ids = _upload(db_engine, blobs, spool_dir, people["ana"], 2)
    with db_engine.begin() as conn, pytest.raises(InvalidInput, match="2201 characters long"):
        create_post(conn, people["ana"], caption="é" * 2201, upload_ids=ids[:1])
    _nothing_written(db_engine)
    with db_engine.begin() as conn:
        post = create_post(conn, people["ana"], caption="é" * 2200, upload_ids=ids[:1])
    assert len(post.caption) == 2200


# -- changing ------------------------------------------------------------------------------------
def _post(engine: sa.Engine, blobs: BlobStore, spool_dir: Path, who: Viewer, caption: str = "#one @ben") -> PostRow:
    ids = _upload(engine, blobs, spool_dir, who)
    with engine.begin() as conn:
        return create_post(conn, who, caption=caption, upload_ids=ids)


def _make_ready(engine: sa.Engine, post_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(posts).where(posts.c.id == post_id).values(state="ready", ready_at=time.time()))


def test_editing_a_caption_rewrites_tags_and_mentions_and_checks_the_version(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer]
) -> None:
    ana, ben, dee = people["ana"], people["ben"], people["dee"]
    post = _post(db_engine, blobs, spool_dir, ana)
    with db_engine.begin() as conn:
        edited = update_caption(conn, ana, post.id, "#Two #three @dee", expected_version=1)
    assert (edited.caption, edited.version) == ("#Two #three @dee", 2)
    with db_engine.connect() as conn:
        assert sorted(conn.execute(sa.select(post_tags.c.tag)).scalars()) == ["three", "two"]
        assert list(conn.execute(sa.select(mentions.c.account_id)).scalars()) == [dee.account_id]
    with db_engine.begin() as conn, pytest.raises(PreconditionFailed, match="at version 2, not 1"):
        update_caption(conn, ana, post.id, "stale", expected_version=1)
    with db_engine.begin() as conn, pytest.raises(InvalidInput, match="2201"):
        update_caption(conn, ana, post.id, "x" * 2201)
    # still processing: its author's and the admins' only, so to ben it does not exist
    with db_engine.begin() as conn, pytest.raises(NotFound, match=f"no post {post.id}"):
        update_caption(conn, ben, post.id, "mine now")
    _make_ready(db_engine, post.id)
    with db_engine.begin() as conn, pytest.raises(Forbidden, match="not yours"):
        update_caption(conn, ben, post.id, "mine now")
    # a private account's post: someone who may not see it is told it does not exist
    private = _post(db_engine, blobs, spool_dir, dee)
    with db_engine.begin() as conn, pytest.raises(NotFound, match=f"no post {private.id}"):
        update_caption(conn, ben, private.id, "hello")
    with db_engine.connect() as conn:
        assert load_post(conn, post.id).caption == "#Two #three @dee"
        assert event_types(conn).count("post.updated") == 1


def test_deleting_a_post(db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer]) -> None:
    ana, ben, root = people["ana"], people["ben"], people["root"]
    first, second = _post(db_engine, blobs, spool_dir, ana), _post(db_engine, blobs, spool_dir, ana)
    with db_engine.begin() as conn, pytest.raises(NotFound):
        delete_post(conn, ben, first.id)  # processing: ben may not see it, so it is not there
    _make_ready(db_engine, first.id)
    with db_engine.begin() as conn, pytest.raises(Forbidden):
        delete_post(conn, ben, first.id)
    with db_engine.begin() as conn:
        delete_post(conn, ana, first.id)
        delete_post(conn, root, second.id)  # an admin may
    for who in (ana, root):
        with db_engine.begin() as conn, pytest.raises(NotFound):
            delete_post(conn, who, first.id)
        with db_engine.begin() as conn, pytest.raises(NotFound):
            update_caption(conn, who, first.id, "back?")
    with db_engine.connect() as conn:
        assert load_post(conn, first.id).deleted_at is not None
        assert event_types(conn)[-2:] == ["post.deleted", "post.deleted"]


def test_advancing_with_nothing_changed_does_nothing(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer]
) -> None:
    _post(db_engine, blobs, spool_dir, people["ana"])  # processing, its run not started (recorded only)
    with db_engine.begin() as conn:
        assert advance_processing(conn) == 0
        assert event_types(conn) == ["post.created"]


# -- through the real runtime --------------------------------------------------------------------
@pytest.fixture
def platform(rq: dq.RedisQueue, db_engine: sa.Engine, blobs: BlobStore, tmp_path: Path) -> Iterator[Platform]:
    p = Platform(rq, db_engine, registry, tmp_path / "scratch")
    p.start_engine()
    p.start_worker(blobs=blobs, concurrency=2)
    yield p
    p.stop()


def _settle(platform: Platform, post_id: str, timeout_s: float = 90.0) -> PostRow:
    """Run the processing loop until the post leaves ``processing`` (a condition, not a sleep)."""
    found: list[PostRow] = []

    def done() -> bool:
        with platform.db.begin() as conn:
            advance_processing(conn)
            found[:] = [load_post(conn, post_id)]
        return found[0].state is not PostState.PROCESSING

    platform.until(done, timeout_s=timeout_s)
    return found[0]


def _receive(platform: Platform, blobs: BlobStore, spool_dir: Path, who: Viewer, data: bytes, name: str) -> str:
    starts = CheapStarts(platform.workflows)
    with platform.db.begin() as conn:
        row = receive_upload(conn, blobs, who, io.BytesIO(data), filename=name, limits=LIMITS, spool_dir=spool_dir,
                             start=starts)  # fmt: skip
    assert starts.flush() == [row.workflow_id]
    return row.id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_photo_and_a_clip_become_a_ready_post_and_its_media_are_purged_after_delete(
    platform: Platform, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer], redis_client: redis.Redis
) -> None:
    ana, db = people["ana"], platform.db
    photo_bytes = jpeg_bytes(96, 64)
    photo = _receive(platform, blobs, spool_dir, ana, photo_bytes, "beach.jpg")
    clip = _receive(platform, blobs, spool_dir, ana, CLIP_NAMED_JPG.read_bytes(), "clip.jpg")
    with db.begin() as conn:
        post = create_post(conn, ana, caption="#sea", upload_ids=[photo, clip])
    assert post.state is PostState.PROCESSING
    ready = _settle(platform, post.id)
    assert ready.state is PostState.READY and ready.ready_at is not None and ready.error is None

    with db.connect() as conn:
        assert event_types(conn) == ["post.created", "post.ready"]
        photo_view, clip_view = get_upload(conn, ana, photo), get_upload(conn, ana, clip)
        runs = {i: p for i, p in conn.execute(sa.select(workflows.c.id, workflows.c.priority))}
    assert runs == {photo_view.upload.workflow_id: "interactive", clip_view.upload.workflow_id: "preview"}
    assert (photo_view.upload.state, photo_view.progress) == (UploadState.READY, 1.0)
    # the photo: every size and format an image, the square crops thumbnails, all in the store
    info = photo_view.upload.info
    assert (info["width"], info["height"]) == (96, 64) and isinstance(info["blurhash"], str)
    roles = {(r["role"], r["content_type"]) for r in info["renditions"]}
    assert roles == {(role, f"image/{f}") for role in ("image", "thumbnail") for f in ("jpeg", "webp", "avif")}
    assert all(blobs.exists(r["key"]) and r["width"] > 0 for r in info["renditions"])
    # the clip: a poster, the HLS master playlist and the DASH manifest with the package's tree, and
    # the storyboard with its own
    info = clip_view.upload.info
    assert (info["width"], info["height"]) == (160, 90) and info["duration_s"] == pytest.approx(1.0, abs=0.05)
    by_role = {r["role"]: r for r in info["renditions"]}
    assert sorted(by_role) == ["dash", "hls", "poster", "storyboard"]
    assert blobs.get_bytes(by_role["storyboard"]["key"]).startswith(b"WEBVTT")
    assert {e.path: e.key for e in read_tree(blobs, by_role["hls"]["tree"])}["hls/master.m3u8"] == by_role["hls"]["key"]
    assert {e.path: e.key for e in read_tree(blobs, by_role["storyboard"]["tree"])}["storyboard.vtt"] == (
        by_role["storyboard"]["key"]
    )
    assert by_role["poster"]["content_type"] == "image/jpeg" and by_role["hls"]["width"] == 160
    assert blobs.get_bytes(by_role["hls"]["key"]).startswith(b"#EXTM3U")
    assert b"<MPD" in blobs.get_bytes(by_role["dash"]["key"])
    assert by_role["hls"]["tree"] == by_role["dash"]["tree"] and blobs.exists(by_role["hls"]["tree"])

    # The same photo again: once it is ready, a post of it is ready at once.
    again = _receive(platform, blobs, spool_dir, ana, photo_bytes, "beach again.jpg")
    platform.until(lambda: _advanced_to(db, ana, again, UploadState.READY), timeout_s=60)
    with db.begin() as conn:
        second = create_post(conn, ana, caption="", upload_ids=[again])
        assert second.state is PostState.READY and event_types(conn)[-2:] == ["post.created", "post.ready"]

    # Delete the first post and purge: the clip's media go, the photo's own source goes, and its
    # renditions stay while the second upload of the same bytes uses them.
    with db.begin() as conn:
        delete_post(conn, ana, post.id)
        assert purge_deleted(conn, blobs, older_than_s=3600) == 0  # not old enough yet
        assert purge_deleted(conn, blobs, older_than_s=0) == 2
        sources = {i: k for i, k in conn.execute(sa.select(assets.c.id, assets.c.source_key))}
        states = {i: st for i, st in conn.execute(sa.select(uploads.c.id, uploads.c.state))}
    assert states == {photo: "purged", clip: "purged", again: "ready"}
    assert not blobs.exists(sources[photo]) and not blobs.exists(sources[clip]) and blobs.exists(sources[again])
    assert all(not blobs.exists(r["key"]) for r in clip_view.upload.info["renditions"])
    assert all(blobs.exists(r["key"]) for r in photo_view.upload.info["renditions"])
    with db.begin() as conn:
        delete_post(conn, ana, second.id)
        assert purge_deleted(conn, blobs, older_than_s=0) == 1
    assert all(not blobs.exists(r["key"]) for r in photo_view.upload.info["renditions"])
    assert [b.key for b in blobs.list() if not b.key.startswith("cas/")] == []  # no source, no analysis


def _advanced_to(db: sa.Engine, who: Viewer, upload_id: str, state: UploadState) -> bool:
    with db.begin() as conn:
        advance_processing(conn)
        return get_upload(conn, who, upload_id).upload.state is state


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_workflow_fails_the_post_with_its_reason(
    platform: Platform, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer], tmp_path: Path
) -> None:
    """A JPEG cut in half: its header reads (so it is taken in), the photo pipeline cannot decode it."""
    ana = people["ana"]
    noise = tmp_path / "noise.jpg"
    Image.effect_noise((256, 192), 80).convert("RGB").save(noise, quality=95)
    whole = noise.read_bytes()
    good = _receive(platform, blobs, spool_dir, ana, jpeg_bytes(), "good.jpg")
    broken = _receive(platform, blobs, spool_dir, ana, whole[: len(whole) // 2], "half.jpg")
    with platform.db.begin() as conn:
        post = create_post(conn, ana, caption="", upload_ids=[good, broken])
    failed = _settle(platform, post.id)
    assert failed.state is PostState.FAILED and failed.ready_at is None
    assert failed.error is not None and failed.error.startswith("media 2 (half.jpg) could not be processed: ")
    assert "photo rejected [truncated]" in failed.error
    with platform.db.connect() as conn:
        view = get_upload(conn, ana, broken)
        assert view.upload.state is UploadState.FAILED and "photo rejected" in (view.upload.error or "")
        assert event_types(conn) == ["post.created", "post.failed"]


def test_after_commit_starts_nothing_before_the_flush(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, people: dict[str, Viewer], rq: dq.RedisQueue
) -> None:
    from darkroom.runtime.workflow import Workflows

    starts = AfterCommit(Workflows(rq, db_engine, registry))
    with starts.transaction(db_engine) as conn:
        row = receive_upload(conn, blobs, people["ana"], io.BytesIO(jpeg_bytes()), filename="a.jpg", limits=LIMITS,
                             spool_dir=spool_dir, start=starts)  # fmt: skip
        assert conn.execute(sa.select(sa.func.count()).select_from(workflows)).scalar_one() == 0
    with db_engine.connect() as conn:
        run = conn.execute(sa.select(workflows).where(workflows.c.id == row.workflow_id)).mappings().one()
    assert (run["name"], run["priority"], run["state"]) == ("photo.renditions", "interactive", "pending")
    assert run["deadline"] <= time.time() + 60
