"""Posts: a caption and 1-10 of the author's uploads (docs/social.md, "Uploads and posts").

A post is created at once, ``processing`` (``ready`` at once when every upload already is); the
processing loop calls :func:`advance_processing`, which turns it ``ready`` (event ``post.ready``:
the feed fan-out's signal) when every upload is, or ``failed`` with the reason (shown to its author
only) as soon as one fails. Captions can be edited (optimistic concurrency on ``version``); a
deleted post is soft-deleted at once and its media purged later (:func:`purge_deleted`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from darkroom.social.captions import Caption, parse_caption
from darkroom.social.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from darkroom.social.events import Event, EventType, record
from darkroom.social.ids import check_id, new_id
from darkroom.social.processing import WorkStarter
from darkroom.social.purge import purge_uploads
from darkroom.social.uploads import GONE, UploadState, settle_uploads
from darkroom.social.viewer import Viewer, require_write
from darkroom.social.visibility import can_view
from darkroom.storage.blobs import BlobStore
from darkroom.storage.schema import accounts, blocks, mentions, post_media, post_tags, posts, uploads

__all__ = [
    "MAX_MEDIA",
    "load_post",
    "PostRow",
    "PostState",
    "advance_processing",
    "create_post",
    "delete_post",
    "purge_deleted",
    "update_caption",
]

MAX_MEDIA = 10
_MAX_ERROR_CHARS = 1000


class PostState(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PostRow:
    """One row of ``posts`` and its uploads in order. ``error`` is for its author's eyes only."""

    id: str
    author_id: str
    caption: str
    state: PostState
    error: str | None
    like_count: int
    comment_count: int
    version: int
    created_at: float
    updated_at: float
    ready_at: float | None
    deleted_at: float | None
    upload_ids: tuple[str, ...]


def load_post(conn: sa.Connection, post_id: str) -> PostRow:
    """The post ``post_id`` (deleted or not) with its uploads; :class:`NotFound` if there is none."""
    row = conn.execute(sa.select(posts).where(posts.c.id == post_id)).mappings().first()
    if row is None:
        raise NotFound(f"no post {post_id}", field="post_id")
    media = conn.execute(
        sa.select(post_media.c.upload_id).where(post_media.c.post_id == post_id).order_by(post_media.c.position)
    ).scalars()
    return PostRow(
        id=row["id"], author_id=row["author_id"], caption=row["caption"], state=PostState(row["state"]),
        error=row["error"], like_count=row["like_count"], comment_count=row["comment_count"],
        version=row["version"], created_at=row["created_at"], updated_at=row["updated_at"],
        ready_at=row["ready_at"], deleted_at=row["deleted_at"], upload_ids=tuple(media),
    )  # fmt: skip


# -- creating ------------------------------------------------------------------------------------
def create_post(conn: sa.Connection, viewer: Viewer | None, *, caption: str, upload_ids: Sequence[str]) -> PostRow:
    """A new post of ``upload_ids`` (1-10, each the viewer's, not given up, in no other post).

    Any offending id is :class:`InvalidInput` naming it, and nothing is written. Tags and the
    mentions of existing accounts (not blocked either way) are recorded; event ``post.created``
    (and ``post.ready`` when every upload is ready already).
    """
    who = require_write(viewer)
    parsed = parse_caption(caption)
    ids = _check_upload_ids(upload_ids)
    # Locking the uploads orders this against advance_processing: either it settles them first
    # (we read them ready) or it waits for our commit and then finds this post.
    query = sa.select(uploads).where(uploads.c.id.in_(ids)).with_for_update()
    found = {r["id"]: r for r in conn.execute(query).mappings()}
    in_posts = sa.select(post_media.c.upload_id, post_media.c.post_id).where(post_media.c.upload_id.in_(ids))
    used: dict[str, str] = {upload_id: post_id for upload_id, post_id in conn.execute(in_posts)}
    for upload_id in ids:
        row = found.get(upload_id)
        if row is None or row["account_id"] != who.account_id or row["state"] in GONE:
            raise InvalidInput(f"upload {upload_id} is not one of your uploads", field="upload_ids")
        if upload_id in used:
            raise InvalidInput(f"upload {upload_id} is already in post {used[upload_id]}", field="upload_ids")
        if row["state"] == UploadState.RECEIVING:
            raise InvalidInput(
                f"upload {upload_id} is still receiving ({row['received_bytes']} of {row['length_bytes']} bytes)",
                field="upload_ids",
            )
        if row["state"] == UploadState.FAILED:
            raise InvalidInput(f"upload {upload_id} could not be processed: {row['error']}", field="upload_ids")
    ready = all(found[i]["state"] == UploadState.READY for i in ids)
    now = time.time()
    post_id = new_id()
    conn.execute(
        sa.insert(posts),
        {"id": post_id, "author_id": who.account_id, "caption": caption,
         "state": PostState.READY if ready else PostState.PROCESSING, "error": None, "like_count": 0,
         "comment_count": 0, "version": 1, "created_at": now, "updated_at": now, "ready_at": now if ready else None},
    )  # fmt: skip
    conn.execute(
        sa.insert(post_media), [{"post_id": post_id, "position": i, "upload_id": u} for i, u in enumerate(ids)]
    )
    _write_refs(conn, post_id, who.account_id, parsed)
    data = {"upload_ids": list(ids), "tags": list(parsed.tags)}  # tags: the analytics trending_tags job
    record(conn, Event(EventType.POST_CREATED, who.account_id, post_id, data))
    if ready:
        record(conn, Event(EventType.POST_READY, who.account_id, post_id))
    return load_post(conn, post_id)


def _check_upload_ids(upload_ids: object) -> list[str]:
    if isinstance(upload_ids, str) or not isinstance(upload_ids, Sequence):
        raise InvalidInput(f"upload_ids {upload_ids!r} must be a list of upload ids", field="upload_ids")
    if not 1 <= len(upload_ids) <= MAX_MEDIA:
        raise InvalidInput(f"a post has 1 to {MAX_MEDIA} uploads, not {len(upload_ids)}", field="upload_ids")
    ids: list[str] = []
    for value in upload_ids:
        upload_id = check_id(value, field="upload_ids")
        if upload_id in ids:
            raise InvalidInput(f"upload {upload_id} is listed twice", field="upload_ids")
        ids.append(upload_id)
    return ids


def _write_refs(conn: sa.Connection, post_id: str, author_id: str, caption: Caption) -> None:
    """The post's tags and mentions (only of existing accounts that neither block nor are blocked by
    the author), replacing any there were."""
    conn.execute(sa.delete(post_tags).where(post_tags.c.post_id == post_id))
    conn.execute(sa.delete(mentions).where(mentions.c.post_id == post_id))
    if caption.tags:
        conn.execute(sa.insert(post_tags), [{"tag": t, "post_id": post_id} for t in caption.tags])
    if not caption.mentions:
        return
    blocked = sa.union(
        sa.select(blocks.c.blocked_id).where(blocks.c.blocker_id == author_id),
        sa.select(blocks.c.blocker_id).where(blocks.c.blocked_id == author_id),
    )
    found = conn.execute(
        sa.select(accounts.c.id).where(
            accounts.c.handle.in_(caption.mentions), accounts.c.deleted_at.is_(None), accounts.c.id.not_in(blocked)
        )
    ).scalars()
    rows = [{"post_id": post_id, "account_id": a} for a in sorted(set(found))]
    if rows:
        conn.execute(sa.insert(mentions), rows)


# -- changing ------------------------------------------------------------------------------------
def update_caption(
    conn: sa.Connection, viewer: Viewer | None, post_id: str, caption: str, *, expected_version: int | None = None
) -> PostRow:
    """Replace the caption (its author only), rewriting tags and mentions; event ``post.updated``.
    ``expected_version`` (the ETag a client read) other than the post's: :class:`PreconditionFailed`."""
    who = require_write(viewer)
    post = _post_to_change(conn, who, post_id, admin=False)
    if expected_version is not None and expected_version != post.version:
        raise PreconditionFailed(f"post {post_id} is at version {post.version}, not {expected_version}")
    parsed = parse_caption(caption)
    conn.execute(
        sa.update(posts)
        .where(posts.c.id == post_id)
        .values(caption=caption, version=posts.c.version + 1, updated_at=time.time())
    )
    _write_refs(conn, post_id, post.author_id, parsed)
    record(conn, Event(EventType.POST_UPDATED, who.account_id, post_id))
    return load_post(conn, post_id)


def delete_post(conn: sa.Connection, viewer: Viewer | None, post_id: str) -> None:
    """Soft-delete a post (its author or an admin): 404 everywhere from now on; its media are purged
    by :func:`purge_deleted`. Event ``post.deleted`` (``author_id`` in its data)."""
    who = require_write(viewer)
    post = _post_to_change(conn, who, post_id, admin=True)
    now = time.time()
    conn.execute(
        sa.update(posts).where(posts.c.id == post_id).values(deleted_at=now, updated_at=now, version=post.version + 1)
    )
    record(conn, Event(EventType.POST_DELETED, who.account_id, post_id, {"author_id": post.author_id}))


def _post_to_change(conn: sa.Connection, who: Viewer, post_id: str, *, admin: bool) -> PostRow:
    """The live post, locked, if ``who`` may change it: its author (or, with ``admin``, an admin).
    Someone who may see the post is :class:`Forbidden`; anyone else gets :class:`NotFound`."""
    check_id(post_id, field="post_id")
    query = (
        sa.select(posts.c.author_id, posts.c.state, accounts.c.private)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(posts.c.id == post_id, posts.c.deleted_at.is_(None))
        .with_for_update(of=posts)
    )
    found = conn.execute(query).first()
    if found is None:
        raise NotFound(f"no post {post_id}", field="post_id")
    author_id, state, private = found
    if author_id != who.account_id and not (admin and who.admin):
        # a post not ready yet is its author's and the admins' only: to anyone else it is missing
        shown = state == PostState.READY or who.admin
        if shown and can_view(conn, who, author_id, author_private=private):  # blocks hide it too
            raise Forbidden(f"post {post_id} is not yours to change", field="post_id")
        raise NotFound(f"no post {post_id}", field="post_id")
    return load_post(conn, post_id)


# -- processing ----------------------------------------------------------------------------------
def advance_processing(
    conn: sa.Connection,
    *,
    start: WorkStarter | None = None,
    restart_after_s: float = 30.0,
    now: float | None = None,
) -> int:
    """Settle the uploads whose workflow ended (:func:`~darkroom.social.uploads.settle_uploads`),
    then their posts: ``ready`` when every upload is (``ready_at``, ``post.ready``), ``failed`` with
    the reason as soon as one failed (``post.failed``). How many uploads and posts changed state.

    Cheap when nothing changed: one indexed query over the uploads in flight and their runs' states,
    nothing more. The runtime offers no workflow-ended notification, so a loop calls this often.
    Runs it starts again (``restart_after_s``) go through ``start``: with
    :class:`~darkroom.social.processing.AfterCommit`,
    flush it after the commit.
    """
    now = time.time() if now is None else now
    settled = settle_uploads(conn, start=start, restart_after_s=restart_after_s, now=now)
    if not settled:
        return 0
    affected = (
        sa.select(post_media.c.post_id)
        .where(post_media.c.upload_id.in_([s.upload_id for s in settled]))
        .scalar_subquery()
    )
    # Locked and read after the uploads were written: two loops settling two uploads of one post
    # at once are ordered here, so the second sees both ready.
    waiting = conn.execute(
        sa.select(posts.c.id, posts.c.author_id)
        .where(posts.c.id.in_(affected), posts.c.state == PostState.PROCESSING, posts.c.deleted_at.is_(None))
        .order_by(posts.c.id)
        .with_for_update()
    ).all()
    if not waiting:
        return len(settled)
    media = conn.execute(
        sa.select(post_media.c.post_id, post_media.c.position, uploads.c.id, uploads.c.state, uploads.c.error,
                  uploads.c.filename)
        .join(uploads, uploads.c.id == post_media.c.upload_id)
        .where(post_media.c.post_id.in_([p for p, _ in waiting]))
        .order_by(post_media.c.post_id, post_media.c.position)
    ).mappings().all()  # fmt: skip
    changed = 0
    for post_id, author_id in waiting:
        items = [m for m in media if m["post_id"] == post_id]
        failed = next((m for m in items if m["state"] == UploadState.FAILED), None)
        if failed is not None:
            reason = f"media {failed['position'] + 1} ({failed['filename']}) could not be processed: {failed['error']}"
            values: dict[str, object] = {"state": PostState.FAILED, "error": reason[:_MAX_ERROR_CHARS]}
            event = Event(EventType.POST_FAILED, author_id, post_id, {"upload_id": failed["id"]})
        elif all(m["state"] == UploadState.READY for m in items):
            values = {"state": PostState.READY, "ready_at": now}
            event = Event(EventType.POST_READY, author_id, post_id)
        else:
            continue
        conn.execute(
            sa.update(posts).where(posts.c.id == post_id).values(updated_at=now, version=posts.c.version + 1, **values)
        )
        record(conn, event)
        changed += 1
    return len(settled) + changed


def purge_deleted(conn: sa.Connection, blobs: BlobStore, *, older_than_s: float, now: float | None = None) -> int:
    """Delete the media blobs of posts deleted more than ``older_than_s`` ago, of every upload of
    accounts deleted that long ago, and of uploads their owners gave up (tus termination); how many
    uploads were purged. Media of runs still going wait for a later call."""
    now = time.time() if now is None else now
    cutoff = now - older_than_s
    of_posts = (
        sa.select(post_media.c.upload_id)
        .join(posts, posts.c.id == post_media.c.post_id)
        .where(posts.c.deleted_at < cutoff)
    )
    of_accounts = (
        sa.select(uploads.c.id)
        .join(accounts, accounts.c.id == uploads.c.account_id)
        .where(accounts.c.deleted_at < cutoff)
    )
    given_up = sa.select(uploads.c.id).where(uploads.c.state == UploadState.TERMINATED, uploads.c.updated_at < cutoff)
    candidates = sa.union(of_posts, of_accounts, given_up).subquery()
    ids = conn.execute(
        sa.select(uploads.c.id).where(uploads.c.id.in_(sa.select(candidates)), uploads.c.state != UploadState.PURGED)
    ).scalars()
    return purge_uploads(conn, blobs, list(ids), now=now)
