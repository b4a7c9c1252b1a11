"""A person's data, to take away: one zip of JSON files and the original media (docs/web.md,
"Settings"; ``GET /v1/accounts/me/export`` and ``/settings/export``).

```
manifest.json    format, version, the account, when, how many of each, media missing from the store
profile.json     the account: handle, email, name, bio, private, created, its avatar's file
posts.json       each post: id, caption, state, created, tags, its media (kind, type, size, file)
comments.json    the account's comments: id, post, text, created
likes.json       the posts it liked, and when
followers.json   who follows it (handle, since); following.json: whom it follows
media/…          the files as uploaded: media/<post id>/<position>.<ext>, media/avatar.<ext>
```

Nothing is held whole in memory: rows are read in batches (``yield_per``) and written into their
zip entry as they come, JSON arrays element by element, and each media file is copied from the blob
store in 1 MiB pieces. Media are stored as they are (already compressed); JSON is deflated.
:func:`export_file` writes into a :class:`~tempfile.SpooledTemporaryFile` (memory up to 8 MiB,
then disk), so the caller can send a finished zip with its length.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import sqlalchemy as sa

from darkroom.social.accounts import get_account_by_id, live
from darkroom.social.intake import suffix_for
from darkroom.social.viewer import Viewer, require
from darkroom.storage.blobs import BlobStore
from darkroom.storage.errors import BlobNotFound
from darkroom.storage.schema import accounts, assets, comments, follows, likes, post_media, post_tags, posts, uploads

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "ExportSummary", "export_file", "export_filename", "write_export"]

EXPORT_FORMAT = "darkroom-export"
EXPORT_VERSION = 1
SPOOL_MEMORY_BYTES = 8 << 20
_BATCH_ROWS = 500
_COPY_BYTES = 1 << 20
_Row = sa.RowMapping | dict[str, Any]  # a row of a query, or one made here (the avatar's)


@dataclass(slots=True)
class ExportSummary:
    """How many of each an export holds, and the media whose file the blob store no longer has."""

    posts: int = 0
    media: int = 0
    comments: int = 0
    likes: int = 0
    followers: int = 0
    following: int = 0
    missing_media: list[str] = field(default_factory=list)


def export_filename(handle: str, at: float) -> str:
    """The zip's file name: ``darkroom-<handle>-<date>.zip`` (a handle is ``[a-z0-9_]``: safe as is)."""
    return f"darkroom-{handle}-{datetime.fromtimestamp(at, UTC):%Y-%m-%d}.zip"


def export_file(
    conn: sa.Connection, blobs: BlobStore, viewer: Viewer | None, *, spool_dir: Path | None = None
) -> tuple[IO[bytes], ExportSummary]:
    """The viewer's export in a spooled temporary file (on disk under ``spool_dir`` past 8 MiB),
    rewound; the caller closes it."""
    if spool_dir is not None:
        spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, dir=None if spool_dir is None else str(spool_dir))  # noqa: SIM115 (returned)
    try:
        summary = write_export(conn, blobs, viewer, out)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out, summary


def write_export(
    conn: sa.Connection, blobs: BlobStore, viewer: Viewer | None, out: IO[bytes], *, now: float | None = None
) -> ExportSummary:
    """Write the viewer's data as a zip to ``out`` (any writable binary file; a stream that cannot
    seek gets data descriptors). Reads only: run it in a read-only transaction."""
    who = require(viewer)
    at = time.time() if now is None else now
    summary = ExportSummary()
    me = who.account_id
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        account = get_account_by_id(conn, me)
        avatar = _avatar(conn, account.avatar_upload_id)
        profile = {
            "id": account.id, "handle": account.handle, "email": account.email,
            "display_name": account.display_name, "bio": account.bio, "private": account.private,
            "created_at": _iso(account.created_at),
            "avatar": None if avatar is None else _avatar_name(avatar),
        }  # fmt: skip
        _json(zf, "profile.json", profile, at)
        summary.posts = _json_array(zf, "posts.json", _posts(conn, me), at)
        summary.comments = _json_array(zf, "comments.json", _comments(conn, me), at)
        summary.likes = _json_array(zf, "likes.json", _likes(conn, me), at)
        summary.followers = _json_array(zf, "followers.json", _people(conn, me, followers=True), at)
        summary.following = _json_array(zf, "following.json", _people(conn, me, followers=False), at)
        files = _media_rows(conn, me)
        if avatar is not None:
            files = _chain([avatar], files)
        for row in files:
            name = _avatar_name(row) if row.get("post_id") is None else _media_name(row)
            if _copy_blob(zf, blobs, row, name):
                summary.media += 1
            else:
                summary.missing_media.append(name)
        manifest = {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "account": account.handle,
            "exported_at": _iso(at), "counts": {k: v for k, v in asdict(summary).items() if k != "missing_media"},
            "missing_media": summary.missing_media,
        }  # fmt: skip
        _json(zf, "manifest.json", manifest, at)
    return summary


# -- the rows ------------------------------------------------------------------------------------
def _rows(conn: sa.Connection, query: sa.Select[Any]) -> Iterator[sa.RowMapping]:
    """``query``'s rows fetched ``_BATCH_ROWS`` at a time (a server-side cursor where there is one)."""
    yield from conn.execute(query.execution_options(yield_per=_BATCH_ROWS)).mappings()


def _posts(conn: sa.Connection, me: str) -> Iterator[dict[str, Any]]:
    """The account's posts, oldest first, each with its tags and media (a query per batch of posts)."""
    mine = sa.select(posts).where(posts.c.author_id == me, posts.c.deleted_at.is_(None)).order_by(posts.c.id)
    batch: list[sa.RowMapping] = []
    for row in _rows(conn, mine):
        batch.append(row)
        if len(batch) == _BATCH_ROWS:
            yield from _with_media(conn, batch)
            batch = []
    yield from _with_media(conn, batch)


def _with_media(conn: sa.Connection, batch: list[sa.RowMapping]) -> Iterator[dict[str, Any]]:
    if not batch:
        return
    ids = [r["id"] for r in batch]
    media: dict[str, list[dict[str, Any]]] = {}
    for m in conn.execute(_media_query().where(post_media.c.post_id.in_(ids))).mappings():
        media.setdefault(m["post_id"], []).append(
            {
                "position": m["position"],
                "kind": m["kind"],
                "content_type": m["content_type"],
                "size_bytes": m["size_bytes"],
                "sha256": m["sha256"],
                "file": _media_name(m),
            }
        )
    tags: dict[str, list[str]] = {}
    for t in conn.execute(sa.select(post_tags.c.post_id, post_tags.c.tag).where(post_tags.c.post_id.in_(ids))):
        tags.setdefault(t.post_id, []).append(t.tag)
    for r in batch:
        yield {
            "id": r["id"], "caption": r["caption"], "state": r["state"], "created_at": _iso(r["created_at"]),
            "tags": sorted(tags.get(r["id"], [])), "media": media.get(r["id"], []),
        }  # fmt: skip


def _media_query() -> sa.Select[Any]:
    return (
        sa.select(
            post_media.c.post_id,
            post_media.c.position,
            uploads.c.kind,
            assets.c.source_key,
            assets.c.content_type,
            assets.c.size_bytes,
            assets.c.sha256,
            assets.c.created_at,
        )
        .select_from(post_media.join(uploads, uploads.c.id == post_media.c.upload_id))
        .join(assets, assets.c.id == uploads.c.asset_id)
        .order_by(post_media.c.post_id, post_media.c.position)
    )


def _media_rows(conn: sa.Connection, me: str) -> Iterator[_Row]:
    live_posts = sa.select(posts.c.id).where(posts.c.author_id == me, posts.c.deleted_at.is_(None))
    return _rows(conn, _media_query().where(post_media.c.post_id.in_(live_posts)))


def _avatar(conn: sa.Connection, upload_id: str | None) -> dict[str, Any] | None:
    if upload_id is None:
        return None
    query = sa.select(assets.c.source_key, assets.c.content_type, assets.c.size_bytes, assets.c.created_at).where(
        assets.c.id == sa.select(uploads.c.asset_id).where(uploads.c.id == upload_id).scalar_subquery()
    )
    found = conn.execute(query).mappings().first()
    return None if found is None else {**found, "post_id": None}


def _comments(conn: sa.Connection, me: str) -> Iterator[dict[str, Any]]:
    query = (
        sa.select(comments.c.id, comments.c.post_id, comments.c.text, comments.c.created_at)
        .where(comments.c.author_id == me, comments.c.deleted_at.is_(None))
        .order_by(comments.c.id)
    )
    for r in _rows(conn, query):
        yield {"id": r["id"], "post_id": r["post_id"], "text": r["text"], "created_at": _iso(r["created_at"])}


def _likes(conn: sa.Connection, me: str) -> Iterator[dict[str, Any]]:
    query = sa.select(likes.c.post_id, likes.c.created_at).where(likes.c.account_id == me).order_by(likes.c.post_id)
    for r in _rows(conn, query):
        yield {"post_id": r["post_id"], "created_at": _iso(r["created_at"])}


def _people(conn: sa.Connection, me: str, *, followers: bool) -> Iterator[dict[str, Any]]:
    mine, other = (follows.c.followee_id, follows.c.follower_id) if followers else (
        follows.c.follower_id, follows.c.followee_id
    )  # fmt: skip
    query = (
        sa.select(accounts.c.handle, follows.c.created_at)
        .join(follows, other == accounts.c.id)
        .where(mine == me, follows.c.state == "active", live())
        .order_by(follows.c.created_at, other)
    )
    for r in _rows(conn, query):
        yield {"handle": r["handle"], "since": _iso(r["created_at"])}


# -- the zip -------------------------------------------------------------------------------------
def _info(name: str, at: float, *, stored: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=datetime.fromtimestamp(max(at, 315_532_800), UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _json(zf: zipfile.ZipFile, name: str, value: object, at: float) -> None:
    with zf.open(_info(name, at), "w") as out:
        out.write(orjson.dumps(value, option=orjson.OPT_INDENT_2))
        out.write(b"\n")


def _json_array(zf: zipfile.ZipFile, name: str, items: Iterable[object], at: float) -> int:
    """Write ``items`` as a JSON array, one element at a time; how many there were."""
    count = 0
    with zf.open(_info(name, at), "w") as out:
        out.write(b"[")
        for item in items:
            out.write(b",\n  " if count else b"\n  ")
            out.write(orjson.dumps(item))
            count += 1
        out.write(b"\n]\n" if count else b"]\n")
    return count


def _copy_blob(zf: zipfile.ZipFile, blobs: BlobStore, row: _Row, name: str) -> bool:
    """Copy the file at ``row``'s source key into ``name``; False when the store has no such blob."""
    try:
        source = blobs.open(row["source_key"])
    except BlobNotFound:
        return False
    info = _info(name, row["created_at"], stored=True)
    info.file_size = int(row["size_bytes"] or 0)  # over 2 GiB: zipfile writes ZIP64 headers
    with source, zf.open(info, "w", force_zip64=info.file_size == 0) as out:
        shutil.copyfileobj(source, out, _COPY_BYTES)
    return True


def _media_name(row: _Row) -> str:
    return f"media/{row['post_id']}/{row['position']}{suffix_for(row['content_type'])}"


def _avatar_name(row: _Row) -> str:
    return f"media/avatar{suffix_for(row['content_type'])}"


def _chain(first: list[_Row], rest: Iterable[_Row]) -> Iterator[_Row]:
    yield from first
    yield from rest


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
