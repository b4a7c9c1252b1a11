"""Uploads: a file a person sends, on its way to becoming a post's media (docs/social.md, "Uploads
and posts").

The bytes stream into a spool file under the home (never held in memory) while the first bytes
decide the kind and its size limit (:mod:`darkroom.social.intake`); the whole file must then read
as that kind in the media probe. It is stored in the blob store, recorded as an asset, and its media
workflow is started through a :class:`~darkroom.social.processing.WorkStarter`. Resumable uploads
(the tus 1.0 core, creation and termination, exposed by the HTTP layer) keep their bytes in the same
spool between chunks; the last chunk starts the processing. :func:`settle_uploads` reads how the
workflows ended and records each upload's renditions.

States: ``receiving`` → ``processing`` → ``ready`` | ``failed``; ``terminated`` (given up by its
owner) and ``purged`` (its media deleted) answer like missing uploads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from darkroom.social.errors import InvalidInput, NotFound, OffsetMismatch, TooLarge
from darkroom.social.ids import check_id, new_id
from darkroom.social.intake import (
    SNIFF_BYTES,
    Content,
    UploadKind,
    UploadLimits,
    clean_filename,
    identify,
    sha256_of,
    sniff,
    spool,
    suffix_for,
)
from darkroom.social.processing import WorkStarter, media_request, run_id_for
from darkroom.social.renditions import photo_info, video_info
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import assets, post_media, uploads, workflows

__all__ = [
    "GONE",
    "Settled",
    "UploadKind",
    "UploadLimits",
    "UploadRow",
    "UploadState",
    "UploadView",
    "append_chunk",
    "create_resumable",
    "get_upload",
    "receive_upload",
    "settle_uploads",
    "terminate",
]

_CHUNK_BYTES = 1 << 20
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
    0 while receiving (``received_bytes`` of ``length_bytes`` tells the transfer), 1 once ready."""

    upload: UploadRow
    progress: float


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
) -> UploadRow:
    """Take a whole file from ``stream``: spool it under ``spool_dir``, judge it by content, store it,
    record the upload (``processing``) and its asset, and start its workflow through ``start``.

    Unknown or unreadable content is :class:`InvalidInput` naming ``filename``; a file over its
    kind's limit is :class:`TooLarge` (reading stops there). Either way nothing is stored.
    """
    who = require_write(viewer)
    name = clean_filename(filename)
    upload_id = new_id()
    spooled = spool(stream, spool_dir / f"{upload_id}.part", filename=name, limits=limits)
    try:
        source = _process(
            blobs, upload_id, who.account_id, spooled.path, sniffed=spooled.kind, filename=name, start=start
        )
        source.record_asset(conn, upload_id, who.account_id, spooled.size_bytes, spooled.sha256)
        conn.execute(
            sa.insert(uploads),
            {
                "id": upload_id,
                "account_id": who.account_id,
                "filename": name,
                "length_bytes": spooled.size_bytes,
                "received_bytes": spooled.size_bytes,
                "created_at": source.at,
                **source.upload_values(upload_id),
            },
        )
    finally:
        spooled.path.unlink(missing_ok=True)
    return _load(conn, upload_id)


@dataclass(frozen=True, slots=True)
class _Source:
    """A whole upload, judged, stored and handed to its workflow."""

    content: Content
    key: str
    run_id: str
    at: float

    def upload_values(self, upload_id: str) -> dict[str, Any]:
        return {
            "state": UploadState.PROCESSING,
            "kind": self.content.kind,
            "asset_id": upload_id,
            "workflow_id": self.run_id,
            "info": self.content.facts(),
            "error": None,
            "updated_at": self.at,
        }

    def record_asset(self, conn: sa.Connection, upload_id: str, owner: str, size_bytes: int, sha256: str) -> None:
        """The upload's asset (same id; written before the upload row that refers to it): its source
        blob and what the pipeline learns about it."""
        conn.execute(
            sa.insert(assets),
            {
                "id": upload_id,
                "kind": self.content.kind,
                "owner": owner,
                "state": "processing",
                "source_key": self.key,
                "content_type": self.content.media_type,
                "size_bytes": size_bytes,
                "sha256": sha256,
                "info": {},
                "workflow_id": self.run_id,
                "created_at": self.at,
                "updated_at": self.at,
            },
        )


def _process(
    blobs: BlobStore,
    upload_id: str,
    account_id: str,
    path: Path,
    *,
    sniffed: UploadKind,
    filename: str,
    start: WorkStarter,
) -> _Source:
    """Probe the whole file, store it as the source blob, start its workflow."""
    content = identify(path, sniffed=sniffed, filename=filename)
    key = f"uploads/{account_id}/{upload_id}{suffix_for(content.media_type)}"
    blobs.put_file(key, path, content_type=content.media_type)
    run_id = run_id_for(upload_id)
    start(media_request(content.kind, key), run_id=run_id)
    return _Source(content, key, run_id, time.time())


# -- resumable uploads (tus 1.0) -----------------------------------------------------------------
def create_resumable(
    conn: sa.Connection, viewer: Viewer | None, *, length_bytes: int, filename: str, limits: UploadLimits
) -> UploadRow:
    """A new upload of ``length_bytes`` (tus ``Upload-Length``) waiting for its chunks. Its kind is
    not known yet, so the length must fit the largest kind's limit; the first chunk decides."""
    who = require_write(viewer)
    name = clean_filename(filename)
    if isinstance(length_bytes, bool) or not isinstance(length_bytes, int) or length_bytes < 1:
        raise InvalidInput(f"length_bytes={length_bytes!r} must be a whole number of bytes > 0", field="length_bytes")
    if length_bytes > limits.largest:
        raise TooLarge(
            f"{name!r}: {length_bytes} bytes is over the limit of {limits.largest} bytes",
            max_bytes=limits.largest,
            field="length_bytes",
        )
    now = time.time()
    upload_id = new_id()
    conn.execute(
        sa.insert(uploads),
        {
            "id": upload_id,
            "account_id": who.account_id,
            "state": UploadState.RECEIVING,
            "kind": None,
            "filename": name,
            "length_bytes": length_bytes,
            "received_bytes": 0,
            "info": {},
            "created_at": now,
            "updated_at": now,
        },
    )
    return _load(conn, upload_id)


def append_chunk(
    conn: sa.Connection,
    viewer: Viewer | None,
    upload_id: str,
    offset: int,
    stream: BinaryIO,
    *,
    blobs: BlobStore,
    limits: UploadLimits,
    spool_dir: Path,
    start: WorkStarter,
) -> int:
    """Append ``stream`` at ``offset`` (tus ``PATCH``); the new offset. The last byte starts the
    processing as :func:`receive_upload` does.

    ``offset`` other than the bytes received so far: :class:`OffsetMismatch` (tus 409). More bytes
    than the declared length: :class:`InvalidInput`. Content that is no photo or video, or a kind
    whose limit the declared length passes: the upload's bytes are dropped and the error raised.
    """
    who = require_write(viewer)
    row = _owned(conn, who, upload_id, lock=True)
    length = row.length_bytes or 0
    if isinstance(offset, bool) or not isinstance(offset, int) or offset != row.received_bytes:
        raise OffsetMismatch(
            f"upload {upload_id} stands at offset {row.received_bytes}, not {offset!r}",
            expected_offset=row.received_bytes,
        )
    if row.state is not UploadState.RECEIVING:
        if stream.read(1):
            raise InvalidInput(f"upload {upload_id} is complete: it takes no more bytes", field="offset")
        return offset
    path = spool_dir / f"{upload_id}.part"
    written = _write_at(path, offset, stream, length - offset, upload_id)
    received = offset + written
    kind = row.kind
    try:
        if kind is None and received >= min(SNIFF_BYTES, length):
            kind = _sniff_file(path, row.filename, length, limits)
        if received < length:
            conn.execute(
                sa.update(uploads)
                .where(uploads.c.id == upload_id)
                .values(received_bytes=received, kind=kind, updated_at=time.time())
            )
            return received
        assert kind is not None  # the whole file is at least the sniffed head
        source = _process(blobs, upload_id, who.account_id, path, sniffed=kind, filename=row.filename, start=start)
        source.record_asset(conn, upload_id, who.account_id, received, sha256_of(path))
        conn.execute(
            sa.update(uploads)
            .where(uploads.c.id == upload_id)
            .values(received_bytes=received, **source.upload_values(upload_id))
        )
    except InvalidInput:
        path.unlink(missing_ok=True)  # what it holds will never be accepted
        raise
    path.unlink(missing_ok=True)
    return received


def _write_at(path: Path, offset: int, stream: BinaryIO, room: int, upload_id: str) -> int:
    """Write ``stream`` into the spool file at ``offset`` (what a failed earlier chunk left after
    ``offset`` is cut off first); at most ``room`` bytes, reading at most one more to tell."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        f = path.open("r+b") if offset else path.open("wb")
    except FileNotFoundError:
        raise NotFound(f"the received part of upload {upload_id} is gone; start a new upload") from None
    with f:
        f.seek(0, 2)
        if f.tell() < offset:
            raise NotFound(f"the received part of upload {upload_id} is gone; start a new upload")
        f.truncate(offset)
        f.seek(offset)
        written = 0
        while chunk := stream.read(min(_CHUNK_BYTES, room + 1 - written)):
            written += len(chunk)
            if written > room:
                f.truncate(offset)
                raise InvalidInput(
                    f"upload {upload_id}: the chunk goes past the declared length ({offset + room} bytes)",
                    field="file",
                )
            f.write(chunk)
    return written


def _sniff_file(path: Path, filename: str, length: int, limits: UploadLimits) -> UploadKind:
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    kind = sniff(head)
    if kind is None:
        raise InvalidInput(
            f"{filename!r} is not a photo or a video: its content is not a known image or video format", field="file"
        )
    if length > limits.max_bytes(kind):
        cap = limits.max_bytes(kind)
        raise TooLarge(f"{filename!r} is over the {kind} limit of {cap} bytes", max_bytes=cap, field="file")
    return kind


def terminate(conn: sa.Connection, viewer: Viewer | None, upload_id: str, *, spool_dir: Path) -> None:
    """Give an upload up (tus ``DELETE``): it answers as missing from now on and its bytes and media
    are purged with deleted posts' (``posts.purge_deleted``). An upload in a post stays: delete the
    post instead."""
    who = require_write(viewer)
    row = _owned(conn, who, upload_id, lock=True)
    used = conn.execute(sa.select(post_media.c.post_id).where(post_media.c.upload_id == upload_id)).scalar()
    if used is not None:
        raise InvalidInput(f"upload {upload_id} is media of post {used}; delete the post instead", field="upload_id")
    conn.execute(
        sa.update(uploads).where(uploads.c.id == row.id).values(state=UploadState.TERMINATED, updated_at=time.time())
    )
    (spool_dir / f"{upload_id}.part").unlink(missing_ok=True)


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
    return UploadView(row, progress)


def _load(conn: sa.Connection, upload_id: str) -> UploadRow:
    return UploadRow.of(conn.execute(sa.select(uploads).where(uploads.c.id == upload_id)).mappings().one())


def _owned(conn: sa.Connection, who: Viewer, upload_id: str, *, lock: bool = False) -> UploadRow:
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
                start(media_request(kind, r["source_key"]), run_id=r["workflow_id"])
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
        conn.execute(sa.update(assets).where(assets.c.id == r["id"]).values(asset_values))
        settled.append(Settled(r["id"], values["state"], values.get("error")))
    return settled
