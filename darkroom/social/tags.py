"""Hashtag pages and hashtag search.

Tags are stored NFC, lower case, without ``#`` (``post_tags``, written by posts.py from the caption
as captions.py parses it). A
tag page lists the ready, not deleted posts the viewer may see, newest first; visibility is a SQL
condition (visibility.visible_clause) so a page is full even when hidden posts dominate a tag.
Search and a tag's page count a tag's ready posts at query time (an index range per tag); a
counters table fed by the events would replace it if prefixes of popular tags ever get slow.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa

from darkroom.social import visibility
from darkroom.social.captions import MAX_TAG_CHARS
from darkroom.social.errors import InvalidInput
from darkroom.social.ids import time_ms
from darkroom.social.paging import Keyset, Page, check_limit, decode_keyset, encode_keyset
from darkroom.social.viewer import Viewer
from darkroom.storage.schema import accounts, post_tags, posts

__all__ = ["TagCount", "count_tag", "normalize_tag", "search_tags", "tag_posts"]


@dataclass(frozen=True, slots=True)
class TagCount:
    name: str
    post_count: int


def normalize_tag(tag: object, *, field: str = "tag") -> str:
    """A tag (or a prefix of one) as captions.py stores it: one leading ``#`` dropped, NFC, lower
    case; letters (with their combining marks), digits and ``_``; 1 to 100 characters."""
    if not isinstance(tag, str):
        raise InvalidInput(f"{field} must be a string, not {type(tag).__name__}", field=field)
    name = unicodedata.normalize("NFC", tag.removeprefix("#")).lower()
    shown = repr(tag) if len(tag) <= 40 else repr(tag[:37]) + "..."
    if not 1 <= len(name) <= MAX_TAG_CHARS:
        raise InvalidInput(f"{field} {shown} must have 1 to {MAX_TAG_CHARS} characters after '#'", field=field)
    if not all(ch == "_" or unicodedata.category(ch)[0] in "LMN" for ch in name):
        raise InvalidInput(f"{field} {shown} may hold only letters, digits and '_'", field=field)
    return name


def tag_posts(
    conn: sa.Connection,
    viewer: Viewer | None,
    tag: str,
    cursor: str | None = None,
    limit: int = 20,
) -> Page[str]:
    """Ids of the posts tagged ``tag`` that ``viewer`` may see, newest first."""
    name = normalize_tag(tag)
    limit = check_limit(limit)
    after = decode_keyset(cursor)
    query = (
        sa.select(post_tags.c.post_id)
        .join(posts, posts.c.id == post_tags.c.post_id)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(
            post_tags.c.tag == name,
            posts.c.state == "ready",
            posts.c.deleted_at.is_(None),
            accounts.c.deleted_at.is_(None),
            visibility.visible_clause(viewer, posts.c.author_id, accounts.c.private),
        )
        .order_by(post_tags.c.post_id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(post_tags.c.post_id < after.id)
    ids = list(conn.execute(query).scalars())
    more = len(ids) > limit
    ids = ids[:limit]
    last = ids[-1] if more else None
    return Page(ids, None if last is None else encode_keyset(Keyset(time_ms(last) / 1000, last)))


def _counted(*where: sa.ColumnElement[bool]) -> sa.Select[tuple[str, int]]:
    """Tags matching ``where`` and their counts of ready posts of live accounts (every account's:
    a count is not content, so private accounts' posts count too, as search has always shown)."""
    count = sa.func.count().label("post_count")
    return (
        sa.select(post_tags.c.tag, count)
        .join(posts, posts.c.id == post_tags.c.post_id)
        .join(accounts, accounts.c.id == posts.c.author_id)
        .where(*where, posts.c.state == "ready", posts.c.deleted_at.is_(None), accounts.c.deleted_at.is_(None))
        .group_by(post_tags.c.tag)
    )


def count_tag(conn: sa.Connection, tag: str) -> TagCount:
    """``tag`` (normalised) and its count of ready posts, as :func:`search_tags` counts them."""
    name = normalize_tag(tag)
    row = conn.execute(_counted(post_tags.c.tag == name)).first()
    return TagCount(name, 0 if row is None else int(row.post_count))


def search_tags(conn: sa.Connection, prefix: str, limit: int = 10) -> list[TagCount]:
    """Tags starting with ``prefix`` that have ready posts, the most used first (then by name)."""
    start = normalize_tag(prefix, field="q")
    limit = check_limit(limit)
    query = (
        _counted(post_tags.c.tag.startswith(start, autoescape=True))
        .order_by(sa.func.count().desc(), post_tags.c.tag)
        .limit(limit)
    )
    return [TagCount(row.tag, int(row.post_count)) for row in conn.execute(query)]
