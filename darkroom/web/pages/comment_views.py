"""Comments as the templates show them: plain values made from the API's ``Comment`` messages
(``resources.comment_messages``, the same as ``GET /v1/posts/{id}/comments``), and a post's live
comment count counted from the rows (the post's ``comment_count`` is the counter consumer's and
may lag a moment after a comment is added or deleted). A feed page's previews, the latest comments
of every post shown, are read for the whole page at once (:func:`latest_comment_views`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from darkroom._proto.darkroom.social.v1.social_pb2 import Comment
from darkroom.api.fieldmask import Mask
from darkroom.social import reactions, resources
from darkroom.social.media import MediaUrls
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import comments
from darkroom.web.pages.captions import profile_path
from darkroom.web.pages.post_views import PostView, ago

__all__ = [
    "COMMENT_FIELDS",
    "PREVIEWS_PER_POST",
    "CommentView",
    "comment_view",
    "count_comments",
    "latest_comment_views",
]

PREVIEWS_PER_POST = 2  # the latest comments a feed shows under each post
# what a comment shows: the mask reaches the hydration of its author
COMMENT_FIELDS = Mask.parse(
    "id,post_id,author.id,author.handle,author.display_name,text,created_at", Comment.DESCRIPTOR, name="fields"
)

# what the counter consumer stores in posts.comment_count: the comments not deleted
_COUNT = (
    sa.select(sa.func.count())
    .select_from(comments)
    .where(comments.c.post_id == sa.bindparam("post_id"), comments.c.deleted_at.is_(None))
)


@dataclass(frozen=True, slots=True)
class CommentView:
    """One comment of a post page."""

    id: str
    post_id: str
    author_handle: str
    author_name: str
    author_href: str
    text: str
    created_iso: str
    created_ago: str
    deletable: bool


def comment_view(
    comment: Comment, viewer: Viewer | None, post_author_id: str, *, now: float | None = None
) -> CommentView:
    """The template's values of ``comment``; ``deletable`` as ``reactions.delete_comment`` rules
    (its author, the post's author or an admin), so the page offers only what the domain allows."""
    created = comment.created_at.seconds + comment.created_at.nanos / 1e9
    mine = viewer is not None and (viewer.admin or viewer.account_id in (comment.author.id, post_author_id))
    return CommentView(
        id=comment.id,
        post_id=comment.post_id,
        author_handle=comment.author.handle,
        author_name=comment.author.display_name or comment.author.handle,
        author_href=profile_path(comment.author.handle),
        text=comment.text,
        created_iso=datetime.fromtimestamp(created, UTC).isoformat(timespec="seconds"),
        created_ago=ago(created, now=now),
        deletable=mine,
    )


def count_comments(conn: sa.Connection, post_id: str) -> int:
    """How many comments ``post_id`` has now (not deleted)."""
    return int(conn.execute(_COUNT, {"post_id": post_id}).scalar_one())


def latest_comment_views(
    conn: sa.Connection, viewer: Viewer | None, posts: Sequence[PostView], *, urls: MediaUrls
) -> dict[str, tuple[CommentView, ...]]:
    """The latest :data:`PREVIEWS_PER_POST` comments of each of ``posts`` (oldest first), by post
    id: one statement for the comments of the whole page (``reactions.latest_comments``, the rules
    of ``list_comments``) and one for their authors, whatever the number of posts."""
    found = reactions.latest_comments(conn, viewer, [p.id for p in posts], PREVIEWS_PER_POST)
    rows = [row for post_rows in found.values() for row in post_rows]
    shown = resources.comment_messages(conn, rows, viewer, COMMENT_FIELDS, urls=urls) if rows else []
    authors = {p.id: p.author_id for p in posts}
    out: dict[str, list[CommentView]] = {}
    for comment in shown:
        out.setdefault(comment.post_id, []).append(comment_view(comment, viewer, authors[comment.post_id]))
    return {post_id: tuple(views) for post_id, views in out.items()}
