"""Post rows → ``Post`` messages, with the read mask pushed down to the query: one statement for
the posts (:func:`fetch_post_records`) and at most one for everything about the viewer
(:func:`finish_posts`). The author's columns are joined only when ``author`` (or a path under it)
is selected, the avatar only for ``author.avatar``; media, tags and mentions are correlated JSON
subqueries present only when selected. The author's ``private`` flag is always read: the
visibility rule needs it. Messages are built with each rendition's blob key in ``url`` (the form
the post cache keeps); :func:`finish_posts` turns keys into URLs last."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.fieldmask import Mask
from darkroom.api.timestamps import timestamp_from_s
from darkroom.social import media, relations, visibility
from darkroom.social.accounts import live as live_account
from darkroom.social.media import PLAIN_URLS, MediaUrls
from darkroom.social.resources.accounts import (
    AVATARS,
    account_columns,
    account_from_row,
    avatar_media,
    set_viewer_fields,
)
from darkroom.social.resources.masks import VIEWER_FIELDS, MaskArg, has, post_mask, project, sub
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import accounts, mentions, post_media, post_tags, posts, uploads

__all__ = ["PostRecord", "fetch_post_records", "finish_posts", "load_posts"]

_mentioned = accounts.alias("mentioned")


def _aggregate(
    dialect: str, columns: Mapping[str, sa.ColumnElement[object]] | sa.ColumnElement[object]
) -> sa.Function[object]:
    """A JSON array of one object (``columns`` a mapping) or value per row: SQLite's
    ``json_group_array``/``json_object``, PostgreSQL's ``json_agg``/``json_build_object``."""
    if isinstance(columns, Mapping):
        pairs: list[object] = []
        for key, column in columns.items():
            # SQLite stores JSON as text: json() embeds it as JSON, not as a string
            value = sa.func.json(column) if dialect == "sqlite" and key == "info" else column
            pairs += [sa.literal(key, sa.String), value]
        item: sa.ColumnElement[object] = (
            sa.func.json_object(*pairs) if dialect == "sqlite" else sa.func.json_build_object(*pairs)
        )
    else:
        item = columns
    return sa.func.json_group_array(item) if dialect == "sqlite" else sa.func.json_agg(item)


@dataclass(slots=True)
class PostRecord:
    """A post as loaded, before the viewer: ``message`` has no viewer fields and no ``error``, and
    its renditions' ``url`` hold blob keys. The post cache stores ``message``. ``version`` (the
    row's, for an ETag) is 0 when unknown: the cache does not keep it."""

    message: pb.Post
    author_id: str
    author_private: bool
    ready: bool
    error: str
    version: int = 0


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a mask makes a post statement read (the statement is built once per shape)."""

    author: bool
    avatar: bool
    media: bool
    tags: bool
    mentions: bool

    @classmethod
    def of(cls, mask: Mask) -> _Shape:
        author = sub(mask, "author", pb.Account.DESCRIPTOR)
        avatar = author is not None and has(author, "avatar")
        return cls(author is not None, avatar, has(mask, "media"), has(mask, "tags"), has(mask, "mentions"))


@functools.cache
def _post_statement(dialect: str, shape: _Shape) -> sa.Select[*tuple[object, ...]]:
    """The posts of the list parameter ``post_ids``, reading what ``shape`` says."""
    cols: list[sa.ColumnElement[object]] = [
        *(posts.c[name] for name in ("id", "author_id", "caption", "state", "error", "like_count", "comment_count")),
        *(posts.c[name] for name in ("created_at", "updated_at", "version")),
        accounts.c.private.label("author_private"),
    ]
    source = posts.join(accounts, accounts.c.id == posts.c.author_id)
    if shape.author:
        cols += account_columns("a__", shape.avatar)
        if shape.avatar:
            source = source.outerjoin(AVATARS, AVATARS.c.id == accounts.c.avatar_upload_id)
    if shape.media:
        fields = {"position": post_media.c.position, "id": uploads.c.id, "kind": uploads.c.kind}
        fields |= {"state": uploads.c.state, "info": uploads.c.info}
        media = sa.select(_aggregate(dialect, fields)).select_from(post_media.join(uploads))
        cols.append(media.where(post_media.c.post_id == posts.c.id).scalar_subquery().label("media_json"))
    if shape.tags:
        tags = sa.select(_aggregate(dialect, post_tags.c.tag)).where(post_tags.c.post_id == posts.c.id)
        cols.append(tags.scalar_subquery().label("tags_json"))
    if shape.mentions:
        handles = sa.select(_aggregate(dialect, _mentioned.c.handle)).select_from(
            mentions.join(_mentioned, _mentioned.c.id == mentions.c.account_id)
        )
        handles = handles.where(mentions.c.post_id == posts.c.id, _mentioned.c.deleted_at.is_(None))
        cols.append(handles.scalar_subquery().label("mentions_json"))
    live = [
        relations.among(posts.c.id, "post_ids", dialect),
        posts.c.deleted_at.is_(None),
        live_account(),  # a disabled author's posts are gone too, as its account is
    ]
    return sa.select(*cols).select_from(source).where(*live)


def fetch_post_records(conn: sa.Connection, post_ids: Collection[str], mask: MaskArg = None) -> dict[str, PostRecord]:
    """The posts of ``post_ids`` that exist, are not deleted and have a live author, with what
    ``mask`` selects, in one statement. No visibility check: :func:`finish_posts` does that."""
    m = post_mask(mask)
    ids = sorted(set(post_ids))
    if not ids:
        return {}
    shape = _Shape.of(m)
    out: dict[str, PostRecord] = {}
    statement = _post_statement(conn.dialect.name, shape)
    for row in conn.execute(statement, {"post_ids": ids}).mappings():
        post = pb.Post(
            id=row["id"],
            caption=row["caption"],
            state=row["state"],
            like_count=row["like_count"],
            comment_count=row["comment_count"],
        )
        post.created_at.CopyFrom(timestamp_from_s(row["created_at"], "created_at"))
        post.updated_at.CopyFrom(timestamp_from_s(row["updated_at"], "updated_at"))
        if shape.author:
            post.author.CopyFrom(account_from_row(row, "a__", shape.avatar))
        if "media_json" in row:
            items = [media.json_object(i) for i in media.json_list(row["media_json"])]
            items.sort(key=lambda i: cast(int, i["position"]))
            post.media.extend(
                media.from_upload(cast(str, i["id"]), cast("str | None", i["kind"]), cast(str, i["state"]), i["info"])
                for i in items
            )
        if "tags_json" in row:
            post.tags.extend(sorted(str(t) for t in media.json_list(row["tags_json"])))
        if "mentions_json" in row:
            post.mentions.extend(sorted(str(h) for h in media.json_list(row["mentions_json"])))
        out[post.id] = PostRecord(
            post,
            row["author_id"],
            bool(row["author_private"]),
            row["state"] == "ready",
            row["error"] or "",
            row["version"],
        )
    return out


def finish_posts(
    conn: sa.Connection,
    records: Iterable[PostRecord],
    viewer: Viewer | None,
    mask: MaskArg = None,
    *,
    urls: MediaUrls = PLAIN_URLS,
    recheck: Collection[str] = (),
) -> dict[str, pb.Post]:
    """``records`` as ``viewer`` may see them: invisible posts dropped (a post not yet ready is its
    author's and admins' only), viewer fields and the author-only ``error`` added, URLs made, the
    mask applied. At most one statement. ``recheck`` names records that may be stale (from a
    cache): for them the statement also re-reads that the post is not deleted and its author's
    current ``private`` flag, so a stale copy never shows what the rows no longer allow."""
    m = post_mask(mask)
    todo = list(records)
    author_mask = sub(m, "author", pb.Account.DESCRIPTOR)
    author_edges = author_mask is not None and any(has(author_mask, f) for f in VIEWER_FIELDS)
    lookup = relations.Lookup()
    if viewer is not None and todo:
        visibility_edges = not viewer.admin or author_edges
        liked = [r.message.id for r in todo] if has(m, "liked_by_me") else []
        authors = [r.author_id for r in todo] if visibility_edges else []
        lookup += relations.queries(viewer.account_id, authors, liked)
    stale = [r for r in todo if r.message.id in recheck]
    if stale:
        lookup += _freshness([r.message.id for r in stale], [r.author_id for r in stale])
    rows = relations.run(conn, lookup)
    edges = relations.collect(rows)
    fresh_posts = {id_ for kind, id_ in rows if kind == "live_post"}
    private_now = {id_ for kind, id_ in rows if kind == "private"}
    out: dict[str, pb.Post] = {}
    for r in todo:
        if r.message.id in recheck:
            if r.message.id not in fresh_posts:
                continue
            r.author_private = r.author_id in private_now
            if r.message.HasField("author"):
                r.message.author.private = r.author_private
        own = viewer is not None and viewer.account_id == r.author_id
        if not r.ready and not (own or (viewer is not None and viewer.admin)):
            continue
        if not visibility.visible_given(viewer, {r.author_id: r.author_private}, edges):
            continue
        post = r.message
        post.liked_by_me = post.id in edges.liked
        post.error = r.error if own else ""
        if post.HasField("author"):
            if author_edges:
                set_viewer_fields(post.author, edges)
            media.sign(avatar_media(post.author), urls, private=r.author_private)
        # a post not ready yet is its author's (and admins') only: its media unsigned would be 404
        media.sign(post.media, urls, private=r.author_private or not r.ready)
        out[post.id] = post  # keyed before the mask may drop ``id``
        project(post, m)
    return out


def _freshness(post_ids: Sequence[str], author_ids: Sequence[str]) -> relations.Lookup:
    """(kind, id) rows: ``live_post`` for posts not deleted, ``private`` for authors that are
    private and not deleted (a deleted or disabled author's posts are dropped through ``live_post``)."""
    params = {"fresh_posts": sorted(set(post_ids)), "fresh_authors": sorted(set(author_ids))}
    return relations.Lookup((_live_posts, _private_authors), params)


def _live_posts(dialect: str) -> relations.Kinded:
    live = sa.select(sa.literal("live_post", sa.String).label("kind"), posts.c.id.label("id"))
    return live.join(accounts, accounts.c.id == posts.c.author_id).where(
        relations.among(posts.c.id, "fresh_posts", dialect),
        posts.c.deleted_at.is_(None),
        live_account(),  # a cached post of an author disabled since: dropped
    )


def _private_authors(dialect: str) -> relations.Kinded:
    private = sa.select(sa.literal("private", sa.String).label("kind"), accounts.c.id.label("id"))
    return private.where(relations.among(accounts.c.id, "fresh_authors", dialect), accounts.c.private.is_(True))


def load_posts(
    conn: sa.Connection,
    post_ids: Collection[str],
    viewer: Viewer | None,
    mask: MaskArg = None,
    *,
    urls: MediaUrls = PLAIN_URLS,
) -> dict[str, pb.Post]:
    """The posts of ``post_ids`` that ``viewer`` may see (ids of others are left out), with only
    what ``mask`` selects, in at most two statements."""
    m = post_mask(mask)
    return finish_posts(conn, fetch_post_records(conn, post_ids, m).values(), viewer, m, urls=urls)
