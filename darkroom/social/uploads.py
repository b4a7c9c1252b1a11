"""Uploads: a file a person sends, on its way to becoming a post's media (docs/social.md, "Uploads
and posts").

The bytes stream into a spool file under the home (never held in memory) while the first bytes
decide the kind and its size limit (:mod:`darkroom.social.intake`); the whole file must then read
as that kind in the media probe. It is stored in the blob store, recorded as an asset, and its media
workflow is started through a :class:`~darkroom.social.processing.WorkStarter`. Resumable uploads
(tus, :mod:`darkroom.social.resumable`) keep their bytes in the same spool between chunks; the
last chunk starts the processing. :func:`settle_uploads` reads how the workflows ended and records
each upload's renditions.

States: ``receiving`` → ``processing`` → ``ready`` | ``failed``; ``terminated`` (given up by its
owner) and ``purged`` (its media deleted) answer like missing uploads.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from darkroom.social.errors import NotFound, UnsupportedMedia
from darkroom.social.ids import check_id, new_id
from darkroom.social.intake import (
    UploadKind,
    UploadLimits,
    clean_filename,
    identify,
    spool,
    suffix_for,
)
from darkroom.social.media_access import record_keys
from darkroom.social.processing import WorkStarter, media_request, run_id_for
from darkroom.social.processing_steps import running_step
from darkroom.social.renditions import photo_info, video_info
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import assets, uploads, workflows

__all__ = [
    "GONE",
    "Settled",
    "UploadKind",
    "UploadLimits",
    "UploadRow",
    "UploadState",
    "UploadView",
    "Whole",
    "begin_processing",
    "get_upload",
    "load_upload",
    "owned_upload",
    "receive_upload",
    "settle_uploads",
]

_ENDED = ("succeeded", "failed", "canceled")  # a workflow run's final states


class UploadState(StrEnum):
    RECEIVING = "receiving"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    TERMINATED = "terminated"
    PURGED = "purged"


GONE = (UploadState.TERMINATED, UploadState.PURGED)


@dataclass(frozen=True, slots=True)
class UploadRow:
    """One row of ``uploads``. ``info`` holds the size, duration and renditions (docs/social.md)."""

    id: str
    account_id: str
    state: UploadState
    kind: UploadKind | None
    filename: str
    length_bytes: int | None
    received_bytes: int
    asset_id: str | None
    workflow_id: str | None
    error: str | None
    info: Mapping[str, Any]
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, row: sa.RowMapping) -> UploadRow:
        return cls(
            id=row["id"], account_id=row["account_id"], state=UploadState(row["state"]),
            kind=UploadKind(row["kind"]) if row["kind"] else None, filename=row["filename"],
            length_bytes=row["length_bytes"], received_bytes=row["received_bytes"], asset_id=row["asset_id"],
            workflow_id=row["workflow_id"], error=row["error"], info=row["info"] or {},
            created_at=row["created_at"], updated_at=row["updated_at"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class UploadView:
    """An upload as its owner reads it: ``progress`` (0-1) is its workflow run's while processing,
    0 while receiving (``received_bytes`` of ``length_bytes`` tells the transfer), 1 once ready;
    ``step`` what the run is doing while processing ("encoding", ``processing_steps``), else ""."""

    upload: UploadRow
    progress: float
    step: str = ""


# -- receiving -----------------------------------------------------------------------------------
def receive_upload(
    conn: sa.Connection,
    blobs: BlobStore,
    viewer: Viewer | None,
    stream: BinaryIO,
    *,
    filename: str,
    limits: UploadLimits,
    spool_dir: Path,
    start: WorkStarter,
    kinds: Collection[UploadKind] = tuple(UploadKind),
    spec: Mapping[str, object] | None = None,
    field: str = "file",
) -> UploadRow:
    """Take a whole file from ``stream``: spool it under ``spool_dir``, judge it by content, store it,
    record the upload (``processing``) and its asset, and start its workflow through ``start``
    (``spec``: a photo's renditions other than the default).

    Unknown or unreadable content is :class:`InvalidInput` naming ``filename``; so is a kind not in
    ``kinds`` (:class:`UnsupportedMedia`, ``field`` named); a file over its kind's limit is
    :class:`TooLarge` (reading stops there). Either way nothing is stored.
    """
    who = require_write(viewer)
    name = clean_filename(filename)
    upload_id = new_id()
    spooled = spool(stream, spool_dir / f"{upload_id}.part", filename=name, limits=limits)
    try:
        if spooled.kind not in kinds:
            wanted = " or ".join(sorted(str(k) for k in kinds))
            raise UnsupportedMedia(f"{name!r} is a {spooled.kind}: only a {wanted} is taken here", field=field)
        whole = Whole(upload_id, who.account_id, spooled.path, spooled.kind, name, spooled.size_bytes, spooled.sha256)
        values = begin_processing(conn, blobs, whole, start=start, spec=spec)
        conn.execute(
            sa.insert(uploads),
            {"id": upload_id, "account_id": who.account_id, "filename": name, "length_bytes": spooled.size_bytes,
             "received_bytes": spooled.size_bytes, "created_at": values["updated_at"], **values},
        )  # fmt: skip
    finally:
        spooled.path.unlink(missing_ok=True)
    return load_upload(conn, upload_id)


@dataclass(frozen=True, slots=True)
class Whole:
    """A whole upload in a spool file (``sniffed``: the kind its first bytes announce)."""

    upload_id: str
    account_id: str
    path: Path
    sniffed: UploadKind
    filename: str
    size_bytes: int
    sha256: str


def begin_processing(
    conn: sa.Connection,
    blobs: BlobStore,
    whole: Whole,
    *,
    start: WorkStarter,
    spec: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """Probe the whole file (:func:`~darkroom.social.intake.identify`), store it as the source blob,
    record its asset (same id as the upload) and start its workflow (``spec``: a photo's renditions
    when not the default; kept in ``info`` until they exist, so a restarted run makes the same); the
    upload's new column values (``processing``). Unreadable content raises before anything is stored."""
    content = identify(whole.path, sniffed=whole.sniffed, filename=whole.filename)
    key = f"uploads/{whole.account_id}/{whole.upload_id}{suffix_for(content.media_type)}"
    blobs.put_file(key, whole.path, content_type=content.media_type)
    run_id = run_id_for(whole.upload_id)
    start(media_request(content.kind, key, spec=spec), run_id=run_id)
    info = content.facts() | ({"spec": dict(spec)} if spec else {})
    now = time.time()
    conn.execute(
        sa.insert(assets),
        {"id": whole.upload_id, "kind": content.kind, "owner": whole.account_id, "state": "processing",
         "source_key": key, "content_type": content.media_type, "size_bytes": whole.size_bytes,
         "sha256": whole.sha256, "info": {}, "workflow_id": run_id, "created_at": now, "updated_at": now},
    )  # fmt: skip
    return {"state": UploadState.PROCESSING, "kind": content.kind, "asset_id": whole.upload_id,
            "workflow_id": run_id, "info": info, "error": None, "updated_at": now}  # fmt: skip


# -- reading -------------------------------------------------------------------------------------
def get_upload(conn: sa.Connection, viewer: Viewer | None, upload_id: str) -> UploadView:
    """The upload and its progress, for its owner only (anyone else: :class:`NotFound`)."""
    check_id(upload_id, field="upload_id")
    query = (
        sa.select(uploads, workflows.c.progress.label("run_progress"))
        .select_from(uploads.outerjoin(workflows, workflows.c.id == uploads.c.workflow_id))
        .where(uploads.c.id == upload_id)
    )
    found = conn.execute(query).mappings().first()
    if found is None or viewer is None or found["account_id"] != viewer.account_id or found["state"] in GONE:
        raise NotFound(f"no upload {upload_id}", field="upload_id")
    row = UploadRow.of(found)
    if row.state is UploadState.READY:
        progress = 1.0
    elif row.state is UploadState.RECEIVING:
        progress = 0.0
    else:
        progress = min(1.0, max(0.0, float(found["run_progress"] or 0.0)))
    run = row.workflow_id if row.state is UploadState.PROCESSING else None
    return UploadView(row, progress, running_step(conn, run) if run is not None else "")


def load_upload(conn: sa.Connection, upload_id: str) -> UploadRow:
    return UploadRow.of(conn.execute(sa.select(uploads).where(uploads.c.id == upload_id)).mappings().one())


def owned_upload(conn: sa.Connection, who: Viewer, upload_id: str, *, lock: bool = False) -> UploadRow:
    check_id(upload_id, field="upload_id")
    query = sa.select(uploads).where(uploads.c.id == upload_id)
    found = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if found is None or found["account_id"] != who.account_id or found["state"] in GONE:
        raise NotFound(f"no upload {upload_id}", field="upload_id")
    return UploadRow.of(found)


# -- settling: how the workflows ended ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Settled:
    """An upload whose workflow ended: now ``ready`` or ``failed`` (with ``error``)."""

    upload_id: str
    state: UploadState
    error: str | None = None


def settle_uploads(
    conn: sa.Connection,
    *,
    start: WorkStarter | None = None,
    restart_after_s: float = 30.0,
    now: float | None = None,
) -> list[Settled]:
    """Uploads whose workflow ended since the last call: each marked ``ready`` (its renditions in
    ``info``) or ``failed`` (the run's error), with its asset. One query reads every workflow state
    (uploads in flight only, by index). An upload left ``processing`` without a run for
    ``restart_after_s`` (its start was lost) is started again through ``start``."""
    now = time.time() if now is None else now
    query = (
        sa.select(
            uploads.c.id,
            uploads.c.kind,
            uploads.c.info,
            uploads.c.workflow_id,
            assets.c.source_key,
            workflows.c.state.label("run_state"),
            workflows.c.outputs,
            workflows.c.error.label("run_error"),
        )
        .select_from(
            uploads.outerjoin(workflows, workflows.c.id == uploads.c.workflow_id).outerjoin(
                assets, assets.c.id == uploads.c.asset_id
            )
        )
        .where(
            uploads.c.state == UploadState.PROCESSING,
            sa.or_(
                workflows.c.state.in_(_ENDED),
                sa.and_(workflows.c.id.is_(None), uploads.c.updated_at < now - restart_after_s),
            ),
        )
    )
    settled: list[Settled] = []
    for r in conn.execute(query).mappings().all():
        kind = UploadKind(r["kind"])
        if r["run_state"] is None:
            if start is not None and r["source_key"]:
                spec = (r["info"] or {}).get("spec")
                start(media_request(kind, r["source_key"], spec=spec), run_id=r["workflow_id"])
                conn.execute(sa.update(uploads).where(uploads.c.id == r["id"]).values(updated_at=now))
            continue
        values: dict[str, Any] = {"updated_at": now}
        if r["run_state"] == "succeeded":
            outputs = r["outputs"] or {}
            info = photo_info(outputs) if kind is UploadKind.PHOTO else video_info(outputs, r["info"] or {})
            values.update(state=UploadState.READY, info=info, error=None)
        else:
            values.update(state=UploadState.FAILED, error=(r["run_error"] or f"processing was {r['run_state']}"))
        done = conn.execute(
            sa.update(uploads).where(uploads.c.id == r["id"], uploads.c.state == UploadState.PROCESSING).values(values)
        )
        if done.rowcount != 1:
            continue  # another caller settled it first
        asset_values = {"state": str(values["state"]), "updated_at": now}
        if "info" in values:
            asset_values["info"] = values["info"]
            record_keys(conn, r["id"], values["info"])  # the media route serves these keys from now on
        conn.execute(sa.update(assets).where(assets.c.id == r["id"]).values(asset_values))
        settled.append(Settled(r["id"], values["state"], values.get("error")))
    return settled
