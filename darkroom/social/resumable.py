"""Resumable uploads: the bookkeeping of the tus 1.0 protocol (core, creation, termination,
expiration) that the HTTP layer exposes at ``/v1/uploads/tus`` (docs/social.md, "Uploads and posts").

``create_resumable`` is tus ``POST`` (``Upload-Length``), ``append_chunk`` is ``PATCH`` (``Upload-Offset``;
a mismatch is :class:`~darkroom.social.errors.OffsetMismatch`, 409), ``terminate`` is ``DELETE``;
``HEAD`` reads :func:`~darkroom.social.uploads.get_upload`. The bytes wait in the spool file
``<spool_dir>/<upload id>.part`` between chunks; the chunk that completes the file starts the
processing as :func:`~darkroom.social.uploads.receive_upload` does. An upload left without a chunk
for ``limits.resumable_lifetime_s`` expires (:mod:`darkroom.social.expiry`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from darkroom.social.errors import InvalidInput, NotFound, OffsetMismatch, TooLarge, UnsupportedMedia
from darkroom.social.expiry import check_unexpired, spool_path
from darkroom.social.ids import new_id
from darkroom.social.intake import SNIFF_BYTES, UploadKind, UploadLimits, clean_filename, sha256_of, sniff
from darkroom.social.processing import WorkStarter
from darkroom.social.uploads import UploadRow, UploadState, Whole, begin_processing, load_upload, owned_upload
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import post_media, uploads

__all__ = ["Appended", "append_chunk", "create_resumable", "terminate"]

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an upload stands after a chunk: its new ``offset``, and when it expires if no other
    chunk comes (None once complete: a complete upload never expires)."""

    offset: int
    expires_at: float | None


def create_resumable(
    conn: sa.Connection,
    viewer: Viewer | None,
    *,
    length_bytes: int,
    filename: str,
    limits: UploadLimits,
    now: float | None = None,
) -> UploadRow:
    """A new upload of ``length_bytes`` (tus ``Upload-Length``) waiting for its chunks. Its kind is
    not known yet, so the length must fit the largest kind's limit; the first chunk decides. It
    expires ``limits.resumable_lifetime_s`` after ``now`` unless a chunk comes."""
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
    now = time.time() if now is None else now
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
    return load_upload(conn, upload_id)


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
    now: float | None = None,
) -> Appended:
    """Append ``stream`` at ``offset`` (tus ``PATCH``); the new offset and expiry. The last byte
    starts the processing as :func:`~darkroom.social.uploads.receive_upload` does.

    An upload that expired (no chunk for ``limits.resumable_lifetime_s`` before ``now``):
    :class:`~darkroom.social.errors.UploadExpired` (tus 410). ``offset`` other than the bytes
    received so far: :class:`OffsetMismatch` (tus 409). More bytes than the declared length:
    :class:`InvalidInput`. Content that is no photo or video, or a kind whose limit the declared
    length passes: the upload's bytes are dropped and the error raised.
    """
    who = require_write(viewer)
    row = owned_upload(conn, who, upload_id, lock=True)
    moment = time.time() if now is None else now
    lifetime_s = limits.resumable_lifetime_s
    check_unexpired(row, lifetime_s, moment)
    length = row.length_bytes or 0
    if isinstance(offset, bool) or not isinstance(offset, int) or offset != row.received_bytes:
        raise OffsetMismatch(
            f"upload {upload_id} stands at offset {row.received_bytes}, not {offset!r}",
            expected_offset=row.received_bytes,
        )
    if row.state is not UploadState.RECEIVING:
        if stream.read(1):
            raise InvalidInput(f"upload {upload_id} is complete: it takes no more bytes", field="offset")
        return Appended(offset, None)
    path = spool_path(spool_dir, upload_id)
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
                .values(received_bytes=received, kind=kind, updated_at=moment)
            )
            return Appended(received, moment + lifetime_s)
        assert kind is not None  # the whole file is at least the sniffed head
        whole = Whole(upload_id, who.account_id, path, kind, row.filename, received, sha256_of(path))
        values = begin_processing(conn, blobs, whole, start=start)
        conn.execute(sa.update(uploads).where(uploads.c.id == upload_id).values(received_bytes=received, **values))
    except InvalidInput:
        path.unlink(missing_ok=True)  # what it holds will never be accepted
        raise
    path.unlink(missing_ok=True)
    return Appended(received, None)


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
        raise UnsupportedMedia(
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
    row = owned_upload(conn, who, upload_id, lock=True)
    used = conn.execute(sa.select(post_media.c.post_id).where(post_media.c.upload_id == upload_id)).scalar()
    if used is not None:
        raise InvalidInput(f"upload {upload_id} is media of post {used}; delete the post instead", field="upload_id")
    conn.execute(
        sa.update(uploads).where(uploads.c.id == row.id).values(state=UploadState.TERMINATED, updated_at=time.time())
    )
    spool_path(spool_dir, upload_id).unlink(missing_ok=True)
