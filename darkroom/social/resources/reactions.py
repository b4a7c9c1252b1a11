"""Comment and like rows → ``Comment`` and ``Like`` messages (their people loaded only when the
mask selects them), and tag counts → ``Tag``."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import sqlalchemy as sa

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.timestamps import timestamp_from_s
from darkroom.social import visibility
from darkroom.social.media import PLAIN_URLS, MediaUrls
from darkroom.social.reactions import CommentRow, LikeRow
from darkroom.social.resources.accounts import load_related
from darkroom.social.resources.masks import MaskArg, comment_mask, like_mask, project
from darkroom.social.tags import TagCount
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import accounts, comments, posts

__all__ = ["comment_messages", "like_messages", "load_comments", "tag_message"]


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
    authors = load_related(conn, m, "author", {r.author_id for r in rows}, viewer, urls=urls)
    out: list[pb.Comment] = []
    for row in rows:
        comment = pb.Comment(id=row.id, post_id=row.post_id, text=row.text)
        comment.created_at.CopyFrom(timestamp_from_s(row.created_at, "created_at"))
        if row.author_id in authors:
            comment.author.CopyFrom(authors[row.author_id])
        project(comment, m)
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
    who = load_related(conn, m, "account", {r.account_id for r in rows}, viewer, urls=urls)
    out: list[pb.Like] = []
    for row in rows:
        like = pb.Like()
        like.created_at.CopyFrom(timestamp_from_s(row.created_at, "created_at"))
        if row.account_id in who:
            like.account.CopyFrom(who[row.account_id])
        project(like, m)
        out.append(like)
    return out


def tag_message(tag: TagCount) -> pb.Tag:
    return pb.Tag(name=tag.name, post_count=tag.post_count)
