"""Purging an upload's media: its source blob and every blob its workflow run made.

The run's blobs are found in what it recorded (the run's outputs, every step's and task's output:
``{"$blob": key}`` references and ``{"$tree": key}`` manifests with their files), so intermediate
files (chunks, per-frame scores) go too, and so do the analyses the complexity service keeps by the
source's SHA-256. They are content-addressed: the same source uploaded twice
yields the same keys, so while another upload of the same bytes (the asset's SHA-256) is alive,
only this upload's own source blob is deleted. Deleting is idempotent: a purge interrupted before
its commit deletes nothing twice that matters, and runs again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence

import sqlalchemy as sa

from darkroom.runtime.errors import PermanentError
from darkroom.runtime.files import BLOB, TREE, read_tree
from darkroom.services.complexity import ComplexityOptions, ComplexityStore
from darkroom.social.media_access import forget_keys
from darkroom.storage.blobs import BlobNotFound, BlobStore
from darkroom.storage.errors import InvalidBlobKey
from darkroom.storage.schema import assets, steps, tasks, uploads, workflows

__all__ = ["purge_uploads", "run_blobs"]

_RUN_ENDED = ("succeeded", "failed", "canceled")


def _refs(value: object) -> Iterator[tuple[str, str]]:
    """Every ``(tag, key)`` reference in a JSON value."""
    if isinstance(value, dict):
        if len(value) == 1:
            for tag in (BLOB, TREE):
                if isinstance(value.get(tag), str):
                    yield tag, value[tag]
                    return
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v)


def run_blobs(conn: sa.Connection, blobs: BlobStore, run_id: str) -> set[str]:
    """The keys of every blob the run ``run_id`` recorded (trees: the manifest and its files)."""
    values: list[object] = list(conn.execute(sa.select(workflows.c.outputs).where(workflows.c.id == run_id)).scalars())
    values += conn.execute(sa.select(steps.c.output).where(steps.c.workflow_id == run_id)).scalars()
    values += conn.execute(sa.select(tasks.c.output).where(tasks.c.workflow_id == run_id)).scalars()
    keys: set[str] = set()
    for tag, key in (ref for v in values for ref in _refs(v)):
        keys.add(key)
        if tag == TREE:
            # purged already, or not a manifest this code wrote: its own key is all there is
            with contextlib.suppress(BlobNotFound, PermanentError, InvalidBlobKey):
                keys.update(entry.key for entry in read_tree(blobs, key))
    return keys


def purge_uploads(conn: sa.Connection, blobs: BlobStore, upload_ids: Iterable[str], *, now: float | None = None) -> int:
    """Delete the media of ``upload_ids`` and mark them ``purged``; how many were purged. An upload
    whose run is still going is left for a later call (its outputs are not all written yet)."""
    now = time.time() if now is None else now
    ids = sorted(set(upload_ids))
    if not ids:
        return 0
    query = (
        sa.select(uploads.c.id, uploads.c.workflow_id, assets.c.source_key, assets.c.sha256, workflows.c.state)
        .select_from(
            uploads.outerjoin(assets, assets.c.id == uploads.c.asset_id).outerjoin(
                workflows, workflows.c.id == uploads.c.workflow_id
            )
        )
        .where(uploads.c.id.in_(ids), uploads.c.state != "purged")
    )
    rows = [r for r in conn.execute(query).mappings() if r["state"] is None or r["state"] in _RUN_ENDED]
    shared = _shared_content(conn, [r["sha256"] for r in rows if r["sha256"]], ids)
    for r in rows:
        keys: set[str] = {r["source_key"]} if r["source_key"] else set()
        if r["sha256"] and r["sha256"] not in shared:
            if r["workflow_id"]:
                keys |= run_blobs(conn, blobs, r["workflow_id"])
            keys |= {b.key for b in blobs.list(_analyses_of(r["sha256"]))}
        for key in sorted(keys):
            blobs.delete(key)
    purged = [r["id"] for r in rows]
    if purged:
        conn.execute(sa.update(uploads).where(uploads.c.id.in_(purged)).values(state="purged", info={}, updated_at=now))
        conn.execute(sa.update(assets).where(assets.c.id.in_(purged)).values(state="purged", updated_at=now))
        forget_keys(conn, purged)
    return len(purged)


def _analyses_of(sha256: str) -> str:
    """The prefix of the analyses the complexity service keeps for content (not run outputs)."""
    return ComplexityStore.key(f"sha256:{sha256}", ComplexityOptions()).rsplit("/", 1)[0] + "/"


def _shared_content(conn: sa.Connection, digests: Sequence[str], purging: Sequence[str]) -> set[str]:
    """Of ``digests``, those another live upload (not being purged) also has."""
    if not digests:
        return set()
    query = (
        sa.select(assets.c.sha256)
        .join(uploads, uploads.c.asset_id == assets.c.id)
        .where(assets.c.sha256.in_(set(digests)), uploads.c.state != "purged", uploads.c.id.not_in(purging))
        .distinct()
    )
    return set(conn.execute(query).scalars())
