"""Rows → the proto messages of ``social.proto``: one definition of each resource for HTTP (its
proto3 JSON mapping, :func:`to_json`) and gRPC, with the read mask pushed down to the queries.

A page of posts costs at most two statements whatever the mask: one for the posts, and one for
everything about the viewer (visibility, ``liked_by_me``, the author's viewer fields; none for an
anonymous reader). The mask decides what those statements touch: the author's columns are joined
only when ``author`` (or a path under it) is selected, the avatar only for ``author.avatar``,
media, tags and mentions are correlated JSON subqueries present only when selected, and
``likes`` is read only for ``liked_by_me``. The author's ``private`` flag is always read: the
visibility rule needs it.

Media URLs come from a :class:`MediaUrls` passed in (the HTTP layer signs private accounts'
URLs); messages are first built with each rendition's blob key in ``url`` (the form the post cache
keeps) and :func:`finish_posts` turns keys into URLs last.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api import protojson
from darkroom.api.fieldmask import Mask, MaskLike
from darkroom.api.timestamps import timestamp_from_s
from darkroom.social import media, relations, visibility
from darkroom.social.media import PLAIN_URLS, MediaUrls, PlainMediaUrls
from darkroom.social.reactions import CommentRow, LikeRow
from darkroom.social.relations import Relations
from darkroom.social.tags import TagCount
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import accounts, comments, mentions, post_media, post_tags, posts, uploads

__all__ = [
    "PLAIN_URLS",
    "MaskArg",
    "MediaUrls",
    "PlainMediaUrls",
    "PostRecord",
    "account_mask",
    "comment_mask",
    "comment_messages",
    "fetch_post_records",
    "finish_posts",
    "like_mask",
    "like_messages",
    "load_accounts",
    "load_comments",
    "load_posts",
    "post_mask",
    "tag_message",
    "to_dict",
    "to_json",
]

MaskArg = Mask | MaskLike
_VIEWER_FIELDS = ("followed_by_me", "requested_by_me", "follows_me", "blocked_by_me")


# -- masks ------------------------------------------------------------------------------------------
def _parse(mask: MaskArg, descriptor: Descriptor) -> Mask:
    parsed = mask if isinstance(mask, Mask) else Mask.parse(mask, descriptor)
    if parsed.descriptor is not descriptor:
        raise TypeError(f"mask is for {parsed.descriptor.full_name}, not {descriptor.full_name}")
    return parsed


def post_mask(mask: MaskArg) -> Mask:
    """``mask`` validated for a Post (:class:`~darkroom.api.errors.InvalidFieldMask` names a bad path)."""
    return _parse(mask, pb.Post.DESCRIPTOR)


def account_mask(mask: MaskArg) -> Mask:
    return _parse(mask, pb.Account.DESCRIPTOR)


def comment_mask(mask: MaskArg) -> Mask:
    return _parse(mask, pb.Comment.DESCRIPTOR)


def like_mask(mask: MaskArg) -> Mask:
    return _parse(mask, pb.Like.DESCRIPTOR)


def _has(mask: Mask, field: str) -> bool:
    return mask.selects_all or any(p[0] == field for p in mask.paths)


def _sub(mask: Mask, field: str, descriptor: Descriptor) -> Mask | None:
    """What ``mask`` selects inside message field ``field`` (None: nothing)."""
    if mask.selects_all or (field,) in mask.paths:
        return Mask(descriptor, (), True, mask.name)
    inner = tuple(p[1:] for p in mask.paths if p[0] == field)
    return Mask(descriptor, inner, False, mask.name) if inner else None


def _project(message: Message, mask: Mask) -> None:
    if not mask.selects_all:
        message.CopyFrom(mask.project(message))


# -- SQL ----------------------------------------------------------------------------------------------
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


# -- accounts ---------------------------------------------------------------------------------------
_avatars = uploads.alias("avatar")
_mentioned = accounts.alias("mentioned")
_ACCOUNT_COLUMNS = (
    "id", "handle", "display_name", "bio", "private", "follower_count", "following_count", "post_count", "created_at",
)  # fmt: skip
_AVATAR_COLUMNS = ("id", "kind", "state", "info")


def _account_columns(prefix: str, avatar: bool) -> list[sa.Label[object]]:
    cols = [accounts.c[name].label(prefix + name) for name in _ACCOUNT_COLUMNS]
    if avatar:
        cols += [_avatars.c[name].label(f"{prefix}avatar_{name}") for name in _AVATAR_COLUMNS]
    return cols


def _account(row: sa.RowMapping, prefix: str, avatar: bool) -> pb.Account:
    a = pb.Account(
        id=row[prefix + "id"],
        handle=row[prefix + "handle"],
        display_name=row[prefix + "display_name"],
        bio=row[prefix + "bio"],
        private=row[prefix + "private"],
        follower_count=row[prefix + "follower_count"],
        following_count=row[prefix + "following_count"],
        post_count=row[prefix + "post_count"],
    )
    a.created_at.CopyFrom(timestamp_from_s(row[prefix + "created_at"], "created_at"))
    if avatar and row[prefix + "avatar_id"] is not None:
        a.avatar.CopyFrom(
            media.from_upload(
                cast(str, row[prefix + "avatar_id"]),
                cast("str | None", row[prefix + "avatar_kind"]),
                cast(str, row[prefix + "avatar_state"]),
                row[prefix + "avatar_info"],
            )
        )
    return a


def _avatar(account: pb.Account) -> list[pb.Media]:
    return [account.avatar] if account.HasField("avatar") else []


def _viewer_fields(account: pb.Account, edges: Relations) -> None:
    account.followed_by_me = account.id in edges.following
    account.requested_by_me = account.id in edges.requested
    account.follows_me = account.id in edges.followers
    account.blocked_by_me = account.id in edges.blocking


def load_accounts(
    conn: sa.Connection,
    account_ids: Collection[str],
    viewer: Viewer | None,
    mask: MaskArg = None,
    *,
    urls: MediaUrls = PLAIN_URLS,
) -> dict[str, pb.Account]:
    """The accounts of ``account_ids`` that exist and do not block the viewer (an account the
    viewer blocks stays readable to it, so it can be unblocked), in at most two statements."""
    m = account_mask(mask)
    if not account_ids:
        return {}
    avatar = _has(m, "avatar")
    query = sa.select(*_account_columns("", avatar)).where(
        accounts.c.id.in_(sorted(set(account_ids))), accounts.c.deleted_at.is_(None)
    )
    if avatar:
        query = query.select_from(accounts.outerjoin(_avatars, _avatars.c.id == accounts.c.avatar_upload_id))
    found = {str(row["id"]): _account(row, "", avatar) for row in conn.execute(query).mappings()}
    edges = relations.NONE
    wants_edges = any(_has(m, f) for f in _VIEWER_FIELDS)
    if viewer is not None and found and (wants_edges or not viewer.admin):
        edges = relations.load(conn, viewer.account_id, found)
    out: dict[str, pb.Account] = {}
    for id_, account in found.items():
        if viewer is not None and not viewer.admin and id_ in edges.blocked_by:
            continue
        if viewer is not None and wants_edges:
            _viewer_fields(account, edges)
        media.sign(_avatar(account), urls, private=account.private)
        _project(account, m)
        out[id_] = account
    return out


# -- posts ------------------------------------------------------------------------------------------
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


def _post_statement(dialect: str, post_ids: Sequence[str], mask: Mask) -> sa.Select[*tuple[object, ...]]:
    cols: list[sa.ColumnElement[object]] = [
        *(posts.c[name] for name in ("id", "author_id", "caption", "state", "error", "like_count", "comment_count")),
        *(posts.c[name] for name in ("created_at", "updated_at", "version")),
        accounts.c.private.label("author_private"),
    ]
    source = posts.join(accounts, accounts.c.id == posts.c.author_id)
    author = _sub(mask, "author", pb.Account.DESCRIPTOR)
    if author is not None:
        avatar = _has(author, "avatar")
        cols += _account_columns("a__", avatar)
        if avatar:
            source = source.outerjoin(_avatars, _avatars.c.id == accounts.c.avatar_upload_id)
    if _has(mask, "media"):
        fields = {"position": post_media.c.position, "id": uploads.c.id, "kind": uploads.c.kind}
        fields |= {"state": uploads.c.state, "info": uploads.c.info}
        media = sa.select(_aggregate(dialect, fields)).select_from(post_media.join(uploads))
        cols.append(media.where(post_media.c.post_id == posts.c.id).scalar_subquery().label("media_json"))
    if _has(mask, "tags"):
        tags = sa.select(_aggregate(dialect, post_tags.c.tag)).where(post_tags.c.post_id == posts.c.id)
        cols.append(tags.scalar_subquery().label("tags_json"))
    if _has(mask, "mentions"):
        handles = sa.select(_aggregate(dialect, _mentioned.c.handle)).select_from(
            mentions.join(_mentioned, _mentioned.c.id == mentions.c.account_id)
        )
        handles = handles.where(mentions.c.post_id == posts.c.id, _mentioned.c.deleted_at.is_(None))
        cols.append(handles.scalar_subquery().label("mentions_json"))
    live = [posts.c.id.in_(post_ids), posts.c.deleted_at.is_(None), accounts.c.deleted_at.is_(None)]
    return sa.select(*cols).select_from(source).where(*live)


def fetch_post_records(conn: sa.Connection, post_ids: Collection[str], mask: MaskArg = None) -> dict[str, PostRecord]:
    """The posts of ``post_ids`` that exist, are not deleted and have a live author, with what
    ``mask`` selects, in one statement. No visibility check: :func:`finish_posts` does that."""
    m = post_mask(mask)
    ids = sorted(set(post_ids))
    if not ids:
        return {}
    author = _sub(m, "author", pb.Account.DESCRIPTOR)
    avatar = author is not None and _has(author, "avatar")
    out: dict[str, PostRecord] = {}
    for row in conn.execute(_post_statement(conn.dialect.name, ids, m)).mappings():
        post = pb.Post(
            id=row["id"],
            caption=row["caption"],
            state=row["state"],
            like_count=row["like_count"],
            comment_count=row["comment_count"],
        )
        post.created_at.CopyFrom(timestamp_from_s(row["created_at"], "created_at"))
        post.updated_at.CopyFrom(timestamp_from_s(row["updated_at"], "updated_at"))
        if author is not None:
            post.author.CopyFrom(_account(row, "a__", avatar))
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
    author_mask = _sub(m, "author", pb.Account.DESCRIPTOR)
    author_edges = author_mask is not None and any(_has(author_mask, f) for f in _VIEWER_FIELDS)
    parts: list[relations.Kinded] = []
    if viewer is not None and todo:
        visibility_edges = not viewer.admin or author_edges
        liked = [r.message.id for r in todo] if _has(m, "liked_by_me") else []
        authors = [r.author_id for r in todo] if visibility_edges else []
        parts += relations.queries(viewer.account_id, authors, liked)
    stale = [r for r in todo if r.message.id in recheck]
    if stale:
        parts += _freshness([r.message.id for r in stale], [r.author_id for r in stale])
    rows = relations.run(conn, parts) if parts else []
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
                _viewer_fields(post.author, edges)
            media.sign(_avatar(post.author), urls, private=r.author_private)
        # a post not ready yet is its author's (and admins') only: its media unsigned would be 404
        media.sign(post.media, urls, private=r.author_private or not r.ready)
        out[post.id] = post  # keyed before the mask may drop ``id``
        _project(post, m)
    return out


def _freshness(post_ids: Sequence[str], author_ids: Sequence[str]) -> list[relations.Kinded]:
    """(kind, id) rows: ``live_post`` for posts not deleted, ``private`` for authors that are
    private and not deleted (a deleted author's posts are dropped through ``live_post``)."""
    live = sa.select(sa.literal("live_post", sa.String).label("kind"), posts.c.id.label("id"))
    live = live.join(accounts, accounts.c.id == posts.c.author_id)
    live = live.where(
        posts.c.id.in_(sorted(set(post_ids))), posts.c.deleted_at.is_(None), accounts.c.deleted_at.is_(None)
    )
    private = sa.select(sa.literal("private", sa.String).label("kind"), accounts.c.id.label("id"))
    private = private.where(accounts.c.id.in_(sorted(set(author_ids))), accounts.c.private.is_(True))
    return [live, private]


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


# -- comments and likes -----------------------------------------------------------------------------
def comment_messages(
    conn: sa.Connection,
    rows: Sequence[CommentRow],
    viewer: Viewer | None,
    mask: MaskArg = None,
    *,
    urls: MediaUrls = PLAIN_URLS,
) -> list[pb.Comment]:
    """Comments from their rows (reactions.list_comments), loading authors only when selected."""
    m = comment_mask(mask)
    author_mask = _sub(m, "author", pb.Account.DESCRIPTOR)
    authors = (
        {} if author_mask is None else load_accounts(conn, {r.author_id for r in rows}, viewer, author_mask, urls=urls)
    )
    out: list[pb.Comment] = []
    for row in rows:
        comment = pb.Comment(id=row.id, post_id=row.post_id, text=row.text)
        comment.created_at.CopyFrom(timestamp_from_s(row.created_at, "created_at"))
        if row.author_id in authors:
            comment.author.CopyFrom(authors[row.author_id])
        _project(comment, m)
        out.append(comment)
    return out


def load_comments(
    conn: sa.Connection,
    comment_ids: Collection[str],
    viewer: Viewer | None,
    mask: MaskArg = None,
    *,
    urls: MediaUrls = PLAIN_URLS,
) -> dict[str, pb.Comment]:
    """The comments of ``comment_ids`` that exist, are not deleted and sit on a ready post the
    viewer may see."""
    comment_mask(mask)
    if not comment_ids:
        return {}
    query = (
        sa.select(
            *(comments.c[n] for n in ("id", "post_id", "author_id", "text", "created_at")),
            posts.c.author_id.label("post_author"),
            accounts.c.private,
        )
        .join(posts, posts.c.id == comments.c.post_id)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(
            comments.c.id.in_(sorted(set(comment_ids))),
            comments.c.deleted_at.is_(None),
            posts.c.state == "ready",
            posts.c.deleted_at.is_(None),
            accounts.c.deleted_at.is_(None),
        )
        .order_by(comments.c.id)
    )
    found = list(conn.execute(query))
    seen = visibility.visible_authors(conn, viewer, {r.post_author: r.private for r in found})
    rows = [CommentRow(r.id, r.post_id, r.author_id, r.text, r.created_at) for r in found if r.post_author in seen]
    messages = comment_messages(conn, rows, viewer, mask, urls=urls)
    return {row.id: message for row, message in zip(rows, messages, strict=True)}


def like_messages(
    conn: sa.Connection,
    rows: Sequence[LikeRow],
    viewer: Viewer | None,
    mask: MaskArg = None,
    *,
    urls: MediaUrls = PLAIN_URLS,
) -> list[pb.Like]:
    """Likes from their rows (reactions.list_likes), loading accounts only when selected."""
    m = like_mask(mask)
    account_mask_ = _sub(m, "account", pb.Account.DESCRIPTOR)
    who = (
        {}
        if account_mask_ is None
        else load_accounts(conn, {r.account_id for r in rows}, viewer, account_mask_, urls=urls)
    )
    out: list[pb.Like] = []
    for row in rows:
        like = pb.Like()
        like.created_at.CopyFrom(timestamp_from_s(row.created_at, "created_at"))
        if row.account_id in who:
            like.account.CopyFrom(who[row.account_id])
        _project(like, m)
        out.append(like)
    return out


def tag_message(tag: TagCount) -> pb.Tag:
    return pb.Tag(name=tag.name, post_count=tag.post_count)


# -- JSON -------------------------------------------------------------------------------------------
def to_dict(message: Message, mask: MaskArg = None) -> dict[str, object]:
    """``message`` as its proto3 JSON mapping (field names as in the proto), only the masked fields."""
    return protojson.to_dict(message, mask)


def to_json(message: Message, mask: MaskArg = None) -> bytes:
    """:func:`to_dict` serialised by orjson: the HTTP body of a resource."""
    return protojson.to_json(message, mask)
