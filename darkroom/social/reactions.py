"""Likes and comments: what a viewer does to a post someone may see.

Both act only on a post that is ready, not deleted, and visible to the viewer (visibility.py);
anything else answers :class:`NotFound`, as if the post did not exist. An admin sees every post but
a block still stands between two accounts (:class:`Blocked`). Every change records its event in the
caller's transaction; the like and comment counters are not written here: the counter consumer
recomputes them from these rows.

Lists: likes newest first (who liked it lately); comments oldest first, as Instagram reads a thread
top to bottom. Both skip accounts that are deleted or in a block with the viewer. A feed page's
previews (:func:`latest_comments`) are the last few comments of many posts in one statement.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from darkroom.social import visibility
from darkroom.social.errors import Blocked, Forbidden, InvalidInput, NotFound
from darkroom.social.events import Event, EventType, record
from darkroom.social.ids import check_id, new_id
from darkroom.social.paging import Keyset, Page, check_limit, decode_keyset, encode_keyset
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.schema import accounts, blocks, comments, likes, posts

__all__ = [
    "COMMENT_MAX_CHARS",
    "CommentRow",
    "LikeRow",
    "add_comment",
    "check_comment_text",
    "delete_comment",
    "latest_comments",
    "like",
    "list_comments",
    "list_likes",
    "unlike",
]

COMMENT_MAX_CHARS = 1000


@dataclass(frozen=True, slots=True)
class LikeRow:
    """One like: who, which post, when."""

    account_id: str
    post_id: str
    created_at: float


@dataclass(frozen=True, slots=True)
class CommentRow:
    """One comment as stored (``text`` exactly as its author wrote it)."""

    id: str
    post_id: str
    author_id: str
    text: str
    created_at: float


# -- likes ------------------------------------------------------------------------------------------
def like(conn: sa.Connection, viewer: Viewer | None, post_id: str) -> bool:
    """Like a post; True when this added the like, False when it was already there (no event)."""
    who = require_write(viewer)
    author_id = _reachable_post(conn, who, post_id)
    row = {"post_id": post_id, "account_id": who.account_id, "created_at": time.time()}
    added = _insert_ignoring_duplicates(conn, likes).values(**row).returning(likes.c.post_id)
    if conn.execute(added).first() is None:
        return False
    record(conn, Event(EventType.POST_LIKED, who.account_id, post_id, {"author_id": author_id}))
    return True


def unlike(conn: sa.Connection, viewer: Viewer | None, post_id: str) -> bool:
    """Take a like back; True when there was one to remove, False otherwise (no event)."""
    who = require_write(viewer)
    author_id = _reachable_post(conn, who, post_id)
    mine = sa.and_(likes.c.post_id == post_id, likes.c.account_id == who.account_id)
    if conn.execute(sa.delete(likes).where(mine)).rowcount != 1:
        return False
    record(conn, Event(EventType.POST_UNLIKED, who.account_id, post_id, {"author_id": author_id}))
    return True


def list_likes(
    conn: sa.Connection,
    viewer: Viewer | None,
    post_id: str,
    cursor: str | None = None,
    limit: int = 20,
) -> Page[LikeRow]:
    """Who liked a post, newest first."""
    limit = check_limit(limit)
    after = decode_keyset(cursor)
    _visible_post(conn, viewer, post_id)
    query = (
        sa.select(likes.c.account_id, likes.c.created_at)
        .join(accounts, accounts.c.id == likes.c.account_id)
        .where(likes.c.post_id == post_id, accounts.c.deleted_at.is_(None), _not_hidden(viewer, likes.c.account_id))
        .order_by(likes.c.created_at.desc(), likes.c.account_id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(
            sa.or_(
                likes.c.created_at < after.at,
                sa.and_(likes.c.created_at == after.at, likes.c.account_id < after.id),
            )
        )
    rows = [LikeRow(r.account_id, post_id, r.created_at) for r in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return Page(rows, None if last is None else encode_keyset(Keyset(last.created_at, last.account_id)))


# -- comments ---------------------------------------------------------------------------------------
def check_comment_text(text: object) -> str:
    """``text`` when it is a comment's text: 1 to 1,000 characters, not blank, storable (no NUL, no
    lone surrogate). Markup is not special: it is stored and returned as the text it is."""
    if not isinstance(text, str):
        raise InvalidInput(f"text must be a string, not {type(text).__name__}", field="text")
    shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
    if not 1 <= len(text) <= COMMENT_MAX_CHARS:
        raise InvalidInput(
            f"text {shown} has {len(text)} characters; a comment has 1 to {COMMENT_MAX_CHARS}", field="text"
        )
    if not text.strip():
        raise InvalidInput(f"text {shown} is blank", field="text")
    if "\x00" in text:
        raise InvalidInput(f"text {shown} contains a NUL character", field="text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"text {shown} is not valid Unicode (a lone surrogate)", field="text") from exc
    return text


def add_comment(conn: sa.Connection, viewer: Viewer | None, post_id: str, text: str) -> CommentRow:
    """Comment on a post; the text is stored as given."""
    who = require_write(viewer)
    text = check_comment_text(text)
    author_id = _reachable_post(conn, who, post_id)
    row = CommentRow(new_id(), post_id, who.account_id, text, time.time())
    conn.execute(
        sa.insert(comments).values(
            id=row.id, post_id=post_id, author_id=who.account_id, text=text, created_at=row.created_at
        )
    )
    data = {"comment_id": row.id, "author_id": author_id}
    record(conn, Event(EventType.COMMENT_CREATED, who.account_id, post_id, data))
    return row


def delete_comment(conn: sa.Connection, viewer: Viewer | None, comment_id: str) -> None:
    """Soft-delete a comment: its author, the post's author or an admin may."""
    who = require_write(viewer)
    comment_id = check_id(comment_id, field="comment_id")
    query = (
        sa.select(comments.c.post_id, comments.c.author_id, posts.c.author_id.label("post_author"), accounts.c.private)
        .join(posts, posts.c.id == comments.c.post_id)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(comments.c.id == comment_id, comments.c.deleted_at.is_(None), *_live_post())
    )
    row = conn.execute(query).first()
    if row is None or not visibility.can_view(conn, who, row.post_author, author_private=row.private):
        raise NotFound(f"comment {comment_id!r} not found", field="comment_id")
    if who.account_id not in (row.author_id, row.post_author) and not who.admin:
        raise Forbidden(
            f"comment {comment_id!r} may be deleted by its author or the post's author only", field="comment_id"
        )
    gone = sa.update(comments).where(comments.c.id == comment_id, comments.c.deleted_at.is_(None))
    if conn.execute(gone.values(deleted_at=time.time())).rowcount != 1:
        raise NotFound(f"comment {comment_id!r} not found", field="comment_id")  # deleted meanwhile
    data = {"comment_id": comment_id, "author_id": row.author_id}
    record(conn, Event(EventType.COMMENT_DELETED, who.account_id, row.post_id, data))


def list_comments(
    conn: sa.Connection,
    viewer: Viewer | None,
    post_id: str,
    cursor: str | None = None,
    limit: int = 20,
) -> Page[CommentRow]:
    """A post's comments, oldest first."""
    limit = check_limit(limit)
    after = decode_keyset(cursor)
    _visible_post(conn, viewer, post_id)
    query = (
        sa.select(comments.c.id, comments.c.author_id, comments.c.text, comments.c.created_at)
        .join(accounts, accounts.c.id == comments.c.author_id)
        .where(
            comments.c.post_id == post_id,
            comments.c.deleted_at.is_(None),
            accounts.c.deleted_at.is_(None),
            _not_hidden(viewer, comments.c.author_id),
        )
        .order_by(comments.c.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(comments.c.id > after.id)
    rows = [CommentRow(r.id, post_id, r.author_id, r.text, r.created_at) for r in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return Page(rows, None if last is None else encode_keyset(Keyset(last.created_at, last.id)))


def latest_comments(
    conn: sa.Connection, viewer: Viewer | None, post_ids: Sequence[str], per_post: int = 2
) -> dict[str, list[CommentRow]]:
    """The newest ``per_post`` comments of each of ``post_ids`` (oldest first within a post, as
    :func:`list_comments` reads), in one statement, under :func:`list_comments`' rules: a post that
    is not ready, deleted or hidden from ``viewer`` has none, nor do deleted comments or authors
    deleted or in a block with the viewer. A post without comments is absent from the answer."""
    per_post = check_limit(per_post, field="per_post")
    wanted = sorted({check_id(p, field="post_id") for p in post_ids})
    if not wanted:
        return {}
    writer = accounts.alias("writer")  # the comment's author; ``accounts`` is the post's
    rank = sa.func.row_number().over(partition_by=comments.c.post_id, order_by=comments.c.id.desc()).label("rank")
    ranked = (
        sa.select(comments.c.id, comments.c.post_id, comments.c.author_id, comments.c.text, comments.c.created_at, rank)
        .join(posts, posts.c.id == comments.c.post_id)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .join(writer, writer.c.id == comments.c.author_id)
        .where(
            comments.c.post_id.in_(wanted),
            comments.c.deleted_at.is_(None),
            writer.c.deleted_at.is_(None),
            *_live_post(),
            visibility.visible_clause(viewer, posts.c.author_id, accounts.c.private),
            _not_hidden(viewer, comments.c.author_id),
        )
        .subquery()
    )
    query = sa.select(ranked).where(ranked.c.rank <= per_post).order_by(ranked.c.post_id, ranked.c.id)
    found: dict[str, list[CommentRow]] = {}
    for r in conn.execute(query):
        found.setdefault(r.post_id, []).append(CommentRow(r.id, r.post_id, r.author_id, r.text, r.created_at))
    return found


# -- shared -----------------------------------------------------------------------------------------
def _live_post() -> list[sa.ColumnElement[bool]]:
    """Conditions of a post anyone could react to (``posts`` joined with its author's account)."""
    return [posts.c.state == "ready", posts.c.deleted_at.is_(None), accounts.c.deleted_at.is_(None)]


def _visible_post(conn: sa.Connection, viewer: Viewer | None, post_id: object) -> str:
    """The author of ``post_id`` when it is ready, not deleted and visible to ``viewer``; else NotFound."""
    post_id = check_id(post_id, field="post_id")
    query = (
        sa.select(posts.c.author_id, accounts.c.private)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(posts.c.id == post_id, *_live_post())
    )
    row = conn.execute(query).first()
    if row is None or not visibility.can_view(conn, viewer, row.author_id, author_private=row.private):
        raise NotFound(f"post {post_id!r} not found", field="post_id")
    return str(row.author_id)


def _reachable_post(conn: sa.Connection, who: Viewer, post_id: object) -> str:
    """:func:`_visible_post`, and no block between ``who`` and the author (only an admin can see a
    post across a block, and it still may not act on it)."""
    author_id = _visible_post(conn, who, post_id)
    if who.admin and author_id != who.account_id and visibility.blocked_between(conn, who.account_id, author_id):
        raise Blocked(f"post {post_id!r}: you and its author block each other", field="post_id")
    return author_id


def _not_hidden(viewer: Viewer | None, account_id: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """Rows by accounts that are not in a block with ``viewer`` (admins see every row)."""
    if viewer is None or viewer.admin:
        return sa.true()
    me = viewer.account_id
    return ~sa.exists().where(
        sa.or_(
            sa.and_(blocks.c.blocker_id == me, blocks.c.blocked_id == account_id),
            sa.and_(blocks.c.blocker_id == account_id, blocks.c.blocked_id == me),
        )
    )


def _insert_ignoring_duplicates(conn: sa.Connection, table: sa.Table) -> sa.Insert:
    """``INSERT … ON CONFLICT DO NOTHING``: concurrent likes of one post by one account race to the
    primary key, and the loser is a no-op instead of an error."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
