"""Who may fetch a rendition by its blob key: the media route's question (docs/social.md, "Upload
and media routes").

A key is **public** (fetched without a signature, cached by anyone for a year) when some upload
holding it is the media of a ready, not deleted post of a public account that is neither deleted
nor disabled, or the avatar of a live account. Anything else, including a key of no upload at all,
is served only through a signed, expiring URL, and answers an unsigned request like a missing file.

The route asks with one indexed query (:func:`is_public`), by the rows of ``media_keys``: every
key an upload's ``info`` names, written when it turns ready (:func:`record_keys`) and removed when
it is purged (:func:`forget_keys`). Renditions are content-addressed, so one key may belong to
several uploads of the same bytes: it is public when any of them is.

A package's files (variant playlists, segments, sprite sheets) are no upload's renditions, so their
own keys are never public: the route serves them only as members of their folder, whose tree
manifest key ``info`` names beside the playlist (``tree``). That key is recorded here too, and the
route asks :func:`is_public` of it for every file of the package; a path the manifest does not
list is no file at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from darkroom.storage.schema import accounts, media_keys, post_media, posts

__all__ = ["forget_keys", "is_public", "record_keys", "rendition_keys"]


def rendition_keys(info: Mapping[str, Any]) -> list[str]:
    """The blob keys an upload's ``info`` serves (every rendition's, and the tree manifest of each
    package a rendition sits in), each once, in order."""
    keys: list[str] = []
    renditions = info.get("renditions")
    for rendition in renditions if isinstance(renditions, list) else []:
        for field in ("key", "tree"):
            key = rendition.get(field) if isinstance(rendition, Mapping) else None
            if isinstance(key, str) and key and key not in keys:
                keys.append(key)
    return keys


def record_keys(conn: sa.Connection, upload_id: str, info: Mapping[str, Any]) -> int:
    """Remember that the renditions in ``info`` belong to ``upload_id`` (idempotent); how many keys."""
    keys = rendition_keys(info)
    conn.execute(sa.delete(media_keys).where(media_keys.c.upload_id == upload_id))
    if keys:
        conn.execute(sa.insert(media_keys), [{"key": key, "upload_id": upload_id} for key in keys])
    return len(keys)


def forget_keys(conn: sa.Connection, upload_ids: Iterable[str]) -> None:
    """Drop the keys of ``upload_ids`` (their media is purged)."""
    ids = sorted(set(upload_ids))
    if ids:
        conn.execute(sa.delete(media_keys).where(media_keys.c.upload_id.in_(ids)))


def _live(account: sa.FromClause) -> sa.ColumnElement[bool]:
    return sa.and_(account.c.deleted_at.is_(None), account.c.disabled.is_(False))


def is_public(conn: sa.Connection, key: str) -> bool:
    """Whether ``key`` is the rendition of something anyone may see (module docstring). One
    statement, every step by an index: ``media_keys`` by key, ``post_media`` by upload (unique),
    posts and authors by primary key, avatars by ``accounts(avatar_upload_id)``."""
    author = accounts.alias("author")
    in_public_post = (
        sa.select(sa.literal(1))
        .select_from(
            media_keys.join(post_media, post_media.c.upload_id == media_keys.c.upload_id)
            .join(posts, posts.c.id == post_media.c.post_id)
            .join(author, author.c.id == posts.c.author_id)
        )
        .where(
            media_keys.c.key == key,
            posts.c.state == "ready",
            posts.c.deleted_at.is_(None),
            author.c.private.is_(False),
            _live(author),
        )
    )
    owner = accounts.alias("owner")
    an_avatar = (
        sa.select(sa.literal(1))
        .select_from(media_keys.join(owner, owner.c.avatar_upload_id == media_keys.c.upload_id))
        .where(media_keys.c.key == key, _live(owner))
    )
    return bool(conn.execute(sa.select(sa.or_(in_public_post.exists(), an_avatar.exists()))).scalar())
