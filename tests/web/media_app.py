"""The HTTP app with the upload, tus and media routes over real Redis, a real database (the
``db_engine`` fixture) and a local blob store; accounts written into the table, tokens mapped to
them; uploads made ready as the processing loop would record a finished run."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from darkroom.api.ratelimit import Rate
from darkroom.config import Settings
from darkroom.services import ServiceRequest
from darkroom.social.posts import advance_processing
from darkroom.social.uploads import UploadLimits, receive_upload
from darkroom.social.viewer import Scope, Viewer
from darkroom.storage.blobs import LocalBlobs
from darkroom.storage.schema import workflows
from darkroom.web.app import create_app
from darkroom.web.deps import HttpLimits, ProgressStream, WebDeps, WorkStarts
from tests.social.media_helpers import jpeg_bytes, make_account
from tests.web.conftest import DictAuthenticator

SECRET = b"m" * 32
_ROOMY = HttpLimits(per_account=Rate(10_000, 3600.0), per_ip=Rate(10_000, 3600.0))


@dataclass
class RecordedStarts:
    """A request's starter that starts nothing and records the run ids it was asked for."""

    started: list[str]
    pending: list[str] = field(default_factory=list)

    def __call__(self, request: ServiceRequest, *, run_id: str) -> None:
        self.pending.append(run_id)

    def flush(self) -> list[str]:
        done, self.pending = self.pending, []
        self.started.extend(done)
        return done


@dataclass
class MediaApp:
    """A client on the app, what it runs on, and its accounts: ana and ben public, dee private."""

    client: TestClient
    deps: WebDeps
    blobs: LocalBlobs
    people: dict[str, Viewer]
    started: list[str]

    @property
    def engine(self) -> sa.Engine:
        return self.deps.engine

    def auth(self, handle: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {handle}-token"}


def media_app(
    engine: sa.Engine,
    redis_client: redis.Redis,
    tmp_path: Path,
    *,
    max_photo_bytes: int = 50 << 20,
    max_video_bytes: int = 2 << 30,
    starts: WorkStarts | None = None,
    blobs: LocalBlobs | None = None,
) -> Iterator[MediaApp]:
    """Yield a :class:`MediaApp` (a generator for fixtures); ``starts`` replaces the recording starter."""
    with engine.begin() as conn:
        people = {h: make_account(conn, h, private=(h == "dee")) for h in ("ana", "ben", "dee")}
    tokens = {f"{h}-token": v for h, v in people.items()}
    tokens["ana-read-token"] = Viewer(people["ana"].account_id, "ana", scopes=frozenset({Scope.READ}))
    tokens["ana-session"] = people["ana"]
    started: list[str] = []
    store = blobs or LocalBlobs(tmp_path / "blobs")
    deps = WebDeps(
        engine=engine,
        redis=redis_client,
        blobs=store,
        settings=Settings(home=tmp_path / "home", max_photo_bytes=max_photo_bytes, max_video_bytes=max_video_bytes),
        authenticator=DictAuthenticator(tokens),
        secret=SECRET,
        limits=_ROOMY,
        starts=(lambda: starts) if starts is not None else (lambda: RecordedStarts(started)),
        progress=ProgressStream(poll_s=0.02, heartbeat_s=1.0, max_s=120.0),
    )
    with TestClient(create_app(deps)) as client:
        yield MediaApp(client, deps, store, people, started)


def upload_photo(app: MediaApp, who: str = "ana", data: bytes | None = None) -> str:
    """An upload of a small JPEG through the domain (processing, nothing started)."""
    return receive_photo(app.deps, app.people[who], data or jpeg_bytes())


def receive_photo(deps: WebDeps, viewer: Viewer, data: bytes) -> str:
    """An upload of ``data`` by ``viewer`` through the domain, into ``deps``' blob store (processing,
    nothing started); its id."""
    with deps.engine.begin() as conn:
        row = receive_upload(
            conn, deps.blobs, viewer, io.BytesIO(data), filename="p.jpg",
            limits=UploadLimits(), spool_dir=deps.spool_dir, start=RecordedStarts([]),
        )  # fmt: skip
    return row.id


def finish_run(app: MediaApp, upload_id: str, renditions: dict[str, bytes]) -> dict[str, str]:
    """:func:`record_renditions` on ``app``'s dependencies."""
    return record_renditions(app.deps, upload_id, renditions)


def record_renditions(
    deps: WebDeps,
    upload_id: str,
    renditions: dict[str, bytes],
    *,
    size: tuple[int, int] = (96, 64),
    blurhash: str | None = None,
) -> dict[str, str]:
    """Record the upload's ``photo.renditions`` run as succeeded with ``renditions`` (file name ->
    bytes, each ``size`` pixels; the suffix stays on the key, as the runtime stores files) stored
    content-addressed, and ``blurhash`` when given, and let the processing loop settle it; the
    keys by file name."""
    width, height = size
    keys: dict[str, str] = {}
    outputs: list[dict[str, object]] = []
    for name, data in renditions.items():
        scratch = deps.settings.home / "renditions" / name
        scratch.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(data)
        keys[name] = deps.blobs.put_content(scratch, suffix=scratch.suffix).key
        outputs.append({"name": scratch.stem, "format": scratch.suffix[1:].replace("jpg", "jpeg"), "width": width,
                        "height": height, "file": {"$blob": keys[name]}})  # fmt: skip
    now = time.time()
    made: dict[str, object] = {"source": {"width": width, "height": height}, "renditions": outputs}
    if blurhash is not None:
        made["blurhash"] = blurhash
    with deps.engine.begin() as conn:
        conn.execute(
            sa.insert(workflows),
            {"id": f"wf_{upload_id.lower()}", "name": "photo.renditions", "state": "succeeded", "inputs": {},
             "outputs": made,
             "priority": "interactive", "deadline": now + 60, "progress": 1.0, "created_at": now, "updated_at": now},
        )  # fmt: skip
        advance_processing(conn)
    return keys
