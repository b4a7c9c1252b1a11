"""Resumable uploads expire (tus ``expiration``): a lifetime counted from the last chunk, an expired
upload refused, and the sweep that deletes expired uploads' rows and spool files (and left-over
spool files) but never an upload within its lifetime or past ``receiving``. Every moment is an
injected ``now``."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from typer.testing import CliRunner

import darkroom.queue as dq
from darkroom.cli import app
from darkroom.config import ConfigError, Settings
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Workflows
from darkroom.social.errors import NotFound, UploadExpired
from darkroom.social.expiry import Swept, expires_at, spool_path, sweep_expired
from darkroom.social.ids import new_id
from darkroom.social.intake import UploadLimits
from darkroom.social.resumable import Appended, append_chunk, create_resumable, terminate
from darkroom.social.runner import RunnerConfig, SocialRunner
from darkroom.social.uploads import UploadState, load_upload
from darkroom.social.viewer import Viewer
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import uploads
from tests.social.media_helpers import Recorded, jpeg_bytes, make_account

LIFETIME_S = 3_600.0
LIMITS = UploadLimits(resumable_lifetime_s=LIFETIME_S)
T0 = 1_750_000_000.0  # the injected clock's start
PHOTO = jpeg_bytes()


@pytest.fixture
def ana(db_engine: sa.Engine) -> Viewer:
    with db_engine.begin() as conn:
        return make_account(conn, "ana")


def test_the_lifetime_comes_from_the_environment_24_h_by_default() -> None:
    assert UploadLimits.from_settings(Settings()).resumable_lifetime_s == 86_400.0
    settings = Settings.from_env({"DARKROOM_RESUMABLE_LIFETIME_S": "600"})
    assert UploadLimits.from_settings(settings).resumable_lifetime_s == 600.0
    for bad in ("0", "-5"):
        with pytest.raises(ConfigError, match=f"DARKROOM_RESUMABLE_LIFETIME_S={float(bad)!r} must be"):
            Settings.from_env({"DARKROOM_RESUMABLE_LIFETIME_S": bad})
    with pytest.raises(ConfigError, match="DARKROOM_RESUMABLE_LIFETIME_S='a day' is not a valid float"):
        Settings.from_env({"DARKROOM_RESUMABLE_LIFETIME_S": "a day"})


def _create(engine: sa.Engine, who: Viewer, now: float, length: int = len(PHOTO)) -> str:
    with engine.begin() as conn:
        return create_resumable(conn, who, length_bytes=length, filename="a.jpg", limits=LIMITS, now=now).id


def _append(
    engine: sa.Engine, who: Viewer, upload_id: str, offset: int, data: bytes, spool_dir: Path, blobs: BlobStore,
    now: float,
) -> Appended:  # fmt: skip
    with engine.begin() as conn:
        return append_chunk(
            conn, who, upload_id, offset, io.BytesIO(data), blobs=blobs, limits=LIMITS, spool_dir=spool_dir,
            start=Recorded(), now=now,
        )  # fmt: skip


def _ids(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(uploads.c.id)).scalars())


def test_the_lifetime_runs_from_the_last_chunk_and_an_expired_upload_is_refused(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, ana: Viewer
) -> None:
    upload_id = _create(db_engine, ana, T0)
    with db_engine.connect() as conn:
        assert expires_at(load_upload(conn, upload_id), LIFETIME_S) == T0 + LIFETIME_S
    # a chunk a second before the end: taken, and the end moves a lifetime past it
    moment = T0 + LIFETIME_S - 1
    assert _append(db_engine, ana, upload_id, 0, PHOTO[:600], spool_dir, blobs, moment) == Appended(
        600, moment + LIFETIME_S
    )
    # at the new end exactly: expired, nothing written, the received part as it was
    with pytest.raises(UploadExpired, match=f"upload {upload_id} expired: no chunk came for 3600 s") as caught:
        _append(db_engine, ana, upload_id, 600, PHOTO[600:], spool_dir, blobs, moment + LIFETIME_S)
    assert isinstance(caught.value, NotFound) and caught.value.code == "upload_expired"
    assert spool_path(spool_dir, upload_id).stat().st_size == 600
    with db_engine.connect() as conn:
        assert load_upload(conn, upload_id).received_bytes == 600


def test_a_complete_upload_never_expires(db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, ana: Viewer) -> None:
    upload_id = _create(db_engine, ana, T0)
    done = _append(db_engine, ana, upload_id, 0, PHOTO, spool_dir, blobs, T0 + 1)
    assert done == Appended(len(PHOTO), None)
    much_later = T0 + 10 * LIFETIME_S
    with db_engine.connect() as conn:
        row = load_upload(conn, upload_id)
    assert row.state is UploadState.PROCESSING and expires_at(row, LIFETIME_S) is None
    # the empty PATCH a client may send at the end still answers where it stands
    assert _append(db_engine, ana, upload_id, len(PHOTO), b"", spool_dir, blobs, much_later) == Appended(
        len(PHOTO), None
    )
    with db_engine.begin() as conn:
        assert sweep_expired(conn, spool_dir=spool_dir, lifetime_s=LIFETIME_S, now=much_later) == Swept()
    assert upload_id in _ids(db_engine)


def test_the_sweep_deletes_expired_uploads_and_left_over_files_only(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, ana: Viewer
) -> None:
    expired = _create(db_engine, ana, T0)
    _append(db_engine, ana, expired, 0, PHOTO[:600], spool_dir, blobs, T0)
    never_sent = _create(db_engine, ana, T0)  # no chunk, so no spool file
    live = _create(db_engine, ana, T0)
    _append(db_engine, ana, live, 0, PHOTO[:600], spool_dir, blobs, T0 + 10)
    finished = _create(db_engine, ana, T0)
    _append(db_engine, ana, finished, 0, PHOTO, spool_dir, blobs, T0)
    terminated = _create(db_engine, ana, T0)
    with db_engine.begin() as conn:
        terminate(conn, ana, terminated, spool_dir=spool_dir)
    # spool files no live upload owns: one nobody wrote for a lifetime, one just written (a
    # multipart upload streaming in has no row yet), and a file that is not the spool's own
    old, fresh = spool_path(spool_dir, new_id()), spool_path(spool_dir, new_id())
    foreign = spool_dir / "notes.txt"
    for path in (old, fresh, foreign):
        path.write_bytes(b"x")
    moment = T0 + LIFETIME_S  # the first upload's end; the live one has 10 s left
    for path in (old, foreign, spool_path(spool_dir, expired), spool_path(spool_dir, live)):
        os.utime(path, (T0, T0))
    os.utime(fresh, (moment, moment))

    with db_engine.begin() as conn:
        swept = sweep_expired(conn, spool_dir=spool_dir, lifetime_s=LIFETIME_S, now=moment)
    assert swept == Swept(uploads=2, files=2)  # expired and never_sent; expired's file and old
    remaining = _ids(db_engine)
    assert remaining == {live, finished, terminated} and never_sent not in remaining
    assert sorted(p.name for p in spool_dir.iterdir()) == sorted([fresh.name, foreign.name, f"{live}.part"])
    # the live upload still takes its chunks; a chunk to a swept one finds no upload
    assert _append(db_engine, ana, live, 600, PHOTO[600:], spool_dir, blobs, moment).offset == len(PHOTO)
    with pytest.raises(NotFound) as caught:
        _append(db_engine, ana, expired, 600, PHOTO[600:], spool_dir, blobs, moment)
    assert not isinstance(caught.value, UploadExpired)
    with db_engine.begin() as conn:  # nothing more to do
        assert sweep_expired(conn, spool_dir=spool_dir, lifetime_s=LIFETIME_S, now=moment) == Swept()


def test_a_spool_file_whose_row_another_host_swept_goes_with_the_next_sweep_here(
    db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, tmp_path: Path, ana: Viewer
) -> None:
    upload_id = _create(db_engine, ana, T0)
    _append(db_engine, ana, upload_id, 0, PHOTO[:600], spool_dir, blobs, T0)
    os.utime(spool_path(spool_dir, upload_id), (T0, T0))
    elsewhere = tmp_path / "other-host" / "uploads"
    with db_engine.begin() as conn:
        assert sweep_expired(conn, spool_dir=elsewhere, lifetime_s=LIFETIME_S, now=T0 + LIFETIME_S) == Swept(1, 0)
    assert spool_path(spool_dir, upload_id).exists()
    with db_engine.begin() as conn:
        assert sweep_expired(conn, spool_dir=spool_dir, lifetime_s=LIFETIME_S, now=T0 + LIFETIME_S) == Swept(0, 1)
    assert list(spool_dir.iterdir()) == []


def test_the_social_runner_sweeps_once_when_asked(
    db_engine: sa.Engine,
    redis_client: redis.Redis,
    rq: dq.RedisQueue,
    blobs: BlobStore,
    spool_dir: Path,
    ana: Viewer,
) -> None:
    upload_id = _create(db_engine, ana, T0)
    _append(db_engine, ana, upload_id, 0, PHOTO[:600], spool_dir, blobs, T0)
    workflows = Workflows(rq, db_engine, Registry())
    config = RunnerConfig(upload_lifetime_s=LIFETIME_S)
    runner = SocialRunner(db_engine, redis_client, workflows, blobs, [], config=config, spool_dir=spool_dir)
    assert runner.sweep_once(now=T0 + LIFETIME_S - 1) == Swept()
    assert runner.sweep_once(now=T0 + LIFETIME_S) == Swept(uploads=1, files=1)
    assert _ids(db_engine) == set() and list(spool_dir.iterdir()) == []
    without_spool = SocialRunner(db_engine, redis_client, workflows, blobs, [], config=config)
    assert without_spool.sweep_once(now=T0 + 100 * LIFETIME_S) == Swept()


def test_the_sweep_command_runs_one_sweep_of_the_homes_spool(
    database_url: str, db_engine: sa.Engine, blobs: BlobStore, spool_dir: Path, ana: Viewer
) -> None:
    expired = _create(db_engine, ana, T0)  # long before the real clock's now
    _append(db_engine, ana, expired, 0, PHOTO[:600], spool_dir, blobs, T0)
    live = _create(db_engine, ana, time.time())
    _append(db_engine, ana, live, 0, PHOTO[:600], spool_dir, blobs, time.time())
    command = ["social", "sweep-uploads", "--url", database_url, "--home", str(spool_dir.parent)]
    env = {"DARKROOM_RESUMABLE_LIFETIME_S": str(LIFETIME_S), "DARKROOM_DATABASE_URL": None}
    result = CliRunner().invoke(app, [*command, "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["uploads"], out["files"], out["spool_dir"]) == (1, 1, str(spool_dir))
    assert _ids(db_engine) == {live} and [p.name for p in spool_dir.iterdir()] == [f"{live}.part"]
    again = CliRunner().invoke(app, command, env=env)
    assert again.exit_code == 0 and f"deleted 0 expired uploads; 0 spool files in {spool_dir}" in again.stdout
