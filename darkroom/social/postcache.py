"""The post cache: hydrated posts in Redis, so a feed page costs one MGET and at most two statements.

An entry (``keys.post_cache``) is ``b"P"`` + the Post's proto bytes as every viewer may share it:
the whole post (author, media, tags, mentions), without viewer fields and without the author-only
``error``, with each rendition's blob key where its URL goes (signed URLs expire; they are made
per read). Only ready posts are cached; a post still processing is its author's alone and changes
soon.

Invalidation and the race it must survive: a reader misses, reads the row, and is slow to write
the entry back; meanwhile a writer commits an edit and invalidates. A plain ``DEL`` would run
before the slow write-back, which would then keep the old post until its TTL. So
:func:`invalidate` does not delete: it writes a *tombstone*, ``b"T"`` + a fresh token, and a
reader writes its entry back only if the key still holds exactly what its MGET saw (nothing, or
the same tombstone), checked and set atomically in Lua. Any invalidation after the MGET changes
the value, and the stale write-back is dropped. Tombstones live :data:`TOMBSTONE_TTL_S`, far longer
than any read; entries live :data:`ENTRY_TTL_S`, a second bound on staleness (and the bound for
changes nobody invalidates, such as an author renaming).

Security never rests on the cache: :func:`hydrate` re-reads, for cached posts, that they are not
deleted and their author's current ``private`` flag, in the same statement as the viewer's
relations (blocks, follows, likes), so a missed invalidation can show an old caption at worst.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis as redis_lib
import sqlalchemy as sa
from google.protobuf.message import DecodeError

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.fieldmask import Mask
from darkroom.social import fills, keys, resources
from darkroom.social.ids import check_id
from darkroom.social.resources import PLAIN_URLS, MaskArg, MediaUrls, PostRecord
from darkroom.social.viewer import Viewer

__all__ = ["ENTRY_TTL_S", "TOMBSTONE_TTL_S", "hydrate", "invalidate"]

ENTRY_TTL_S = 600
TOMBSTONE_TTL_S = 3600
_POST = b"P"
_EVERYTHING = Mask(pb.Post.DESCRIPTOR, (), True, "read_mask")


def invalidate(redis: redis_lib.Redis, post_ids: Sequence[str]) -> None:
    """Forget the cached copies of ``post_ids`` (after an edit, a delete, a counter change); call
    it after the change commits. One round trip."""
    if not post_ids:
        return
    pipe = redis.pipeline(transaction=False)
    for post_id in post_ids:
        pipe.set(keys.post_cache(post_id), fills.tombstone(), px=TOMBSTONE_TTL_S * 1000)
    pipe.execute()


def hydrate(
    conn: sa.Connection,
    redis: redis_lib.Redis,
    post_ids: Sequence[str],
    viewer: Viewer | None,
    mask: MaskArg = None,
    *,
    urls: MediaUrls = PLAIN_URLS,
) -> list[pb.Post]:
    """The posts of ``post_ids`` that ``viewer`` may see, in that order (duplicates once), with
    what ``mask`` selects: one MGET, one statement for the misses (then cached), one for the
    viewer (visibility, ``liked_by_me``) and the cached posts' freshness."""
    m = resources.post_mask(mask)
    ids = list(dict.fromkeys(check_id(i, field="post_ids") for i in post_ids))
    if not ids:
        return []
    cache_keys = [keys.post_cache(i) for i in ids]
    records: dict[str, PostRecord] = {}
    seen: dict[str, bytes] = {}  # misses: what the MGET saw, for the write-back's compare-and-set
    for post_id, value in zip(ids, redis.mget(cache_keys), strict=True):
        if isinstance(value, str):
            raise TypeError("the post cache needs a Redis client with bytes replies (decode_responses=False)")
        record = _decode(value) if value else None
        if record is None or record.message.id != post_id:
            seen[post_id] = value or b""
        else:
            records[post_id] = record
    hits = set(records)
    if seen:
        loaded = resources.fetch_post_records(conn, seen, _EVERYTHING)
        _fill(redis, [(p, seen[p], r) for p, r in loaded.items() if r.ready])
        records.update(loaded)
    shown = resources.finish_posts(conn, records.values(), viewer, m, urls=urls, recheck=hits)
    return [shown[i] for i in ids if i in shown]


def _decode(value: bytes) -> PostRecord | None:
    if not value.startswith(_POST):
        return None  # a tombstone
    try:
        post = pb.Post.FromString(value[1:])
    except DecodeError:
        return None  # written by another version: read the row again
    return PostRecord(post, post.author.id, post.author.private, True, "")


def _fill(redis: redis_lib.Redis, entries: list[tuple[str, bytes, PostRecord]]) -> None:
    """Write entries back, each only if its key still holds what the MGET saw (fills.py)."""
    ttl_ms = ENTRY_TTL_S * 1000
    fills.fill(
        redis,
        [fills.Fill(keys.post_cache(p), saw, _POST + r.message.SerializeToString(), ttl_ms) for p, saw, r in entries],
    )
