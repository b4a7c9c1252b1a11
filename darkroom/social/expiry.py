"""How long an unfinished resumable upload is kept (tus 1.0 ``expiration``), and the sweep that
deletes the expired ones (docs/social.md, "Uploads and posts").

An upload still ``receiving`` expires ``lifetime_s`` after its last chunk (after its creation
until the first one): each chunk moves the moment on, so an upload that keeps sending never
expires and one left alone does. From then on it takes no chunk and answers ``HEAD`` with
:class:`~darkroom.social.errors.UploadExpired` (HTTP 410), until the sweep deletes its row and
its spool file (then 404). An upload past ``receiving`` (processing, ready, failed, terminated)
never expires: its spool file is gone already.

The spool is one host's directory, so :func:`sweep_expired` also deletes the spool files there
that no unexpired upload owns and nobody has written for a lifetime: what is left on a web host
when a sweep on another host deleted the rows, or when a process died between a delete and its
unlink.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from darkroom.social.errors import UploadExpired
from darkroom.social.uploads import UploadRow, UploadState
from darkroom.storage.schema import uploads

__all__ = ["SPOOL_SUFFIX", "Swept", "check_unexpired", "expires_at", "spool_path", "sweep_expired"]

SPOOL_SUFFIX = ".part"
_SPOOL_NAME = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # a ULID: only the spool's own files are touched
_BATCH = 500  # ids per statement


def spool_path(spool_dir: Path, upload_id: str) -> Path:
    """Where the received part of ``upload_id`` waits for the next chunk."""
    return spool_dir / f"{upload_id}{SPOOL_SUFFIX}"


def expires_at(row: UploadRow, lifetime_s: float) -> float | None:
    """When ``row`` expires (epoch seconds), or None for an upload past ``receiving``."""
    return row.updated_at + lifetime_s if row.state is UploadState.RECEIVING else None


def check_unexpired(row: UploadRow, lifetime_s: float, now: float) -> None:
    """:class:`UploadExpired` when ``row`` expired at or before ``now``."""
    until = expires_at(row, lifetime_s)
    if until is not None and until <= now:
        raise UploadExpired(
            f"upload {row.id} expired: no chunk came for {lifetime_s:g} s; start a new upload", field="upload_id"
        )


@dataclass(frozen=True, slots=True)
class Swept:
    """What a sweep deleted: upload rows, and spool files (those rows' and left-over ones)."""

    uploads: int = 0
    files: int = 0


def sweep_expired(conn: sa.Connection, *, spool_dir: Path, lifetime_s: float, now: float | None = None) -> Swept:
    """Delete the expired uploads (their rows, and their spool files under ``spool_dir``), and the
    spool files there that no unexpired upload owns and that nobody wrote for ``lifetime_s``.
    Never an upload within its lifetime, nor one past ``receiving``.

    The files go before the caller commits: an expired upload is refused whether its file is there
    or not, so a rollback leaves rows the next sweep deletes, never a live upload without bytes."""
    cutoff = (time.time() if now is None else now) - lifetime_s
    expired = (uploads.c.state == UploadState.RECEIVING, uploads.c.updated_at <= cutoff)
    # SKIP LOCKED (PostgreSQL): a chunk being written holds the row; its own check refuses it
    query = sa.select(uploads.c.id).where(*expired).with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    deleted = 0
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        deleted += conn.execute(sa.delete(uploads).where(uploads.c.id.in_(batch), *expired)).rowcount
    files = sum(_unlink(spool_path(spool_dir, upload_id)) for upload_id in ids)
    return Swept(uploads=deleted, files=files + _sweep_left_over(conn, spool_dir, cutoff, set(ids)))


def _sweep_left_over(conn: sa.Connection, spool_dir: Path, cutoff: float, done: set[str]) -> int:
    """Delete spool files last written at or before ``cutoff`` whose upload is not receiving
    within its lifetime (no row, another state, or expired: its row is another host's to delete)."""
    try:
        entries = list(spool_dir.iterdir())
    except FileNotFoundError:  # no upload has come to this host yet
        return 0
    stale: dict[str, Path] = {}
    for path in entries:
        upload_id = path.name.removesuffix(SPOOL_SUFFIX)
        if path.name.endswith(SPOOL_SUFFIX) and _SPOOL_NAME.fullmatch(upload_id) and upload_id not in done:
            try:
                if path.stat().st_mtime <= cutoff:
                    stale[upload_id] = path
            except FileNotFoundError:  # finished or terminated meanwhile
                continue
    live: set[str] = set()
    names = sorted(stale)
    for start in range(0, len(names), _BATCH):
        live.update(
            conn.execute(
                sa.select(uploads.c.id).where(
                    uploads.c.id.in_(names[start : start + _BATCH]),
                    uploads.c.state == UploadState.RECEIVING,
                    uploads.c.updated_at > cutoff,
                )
            ).scalars()
        )
    return sum(_unlink(path) for upload_id, path in stale.items() if upload_id not in live)


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
