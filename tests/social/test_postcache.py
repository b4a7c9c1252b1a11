"""darkroom.social.postcache: hydrated posts in a real Redis, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import sqlalchemy as sa

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.social import keys, postcache, reactions
from darkroom.social.errors import InvalidInput
from darkroom.storage.db import read_only
from darkroom.storage.schema import accounts, posts
from tests.social.rows import make_account, make_block, make_post, make_upload, photo_info, viewer_of
from tests.social.statements import statements


class SigningUrls:
    def url(self, key: str, *, private: bool) -> str:
        return f"/signed/{key}" if private else f"/v1/media/{key}"


@contextmanager
def redis_calls(client: redis.Redis, command: str) -> Iterator[list[int]]:
    """How many times ``command`` ran on the server inside the block (INFO commandstats)."""

    def calls() -> int:
        stats = client.info("commandstats").get(f"cmdstat_{command}", {})
        return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0

    before, out = calls(), []
    yield out
    out.append(calls() - before)


def _cached(client: redis.Redis, post_id: str) -> bytes | None:
    value = client.get(keys.post_cache(post_id))
    assert value is None or isinstance(value, bytes)
    return value


def test_a_page_of_20_is_one_mget_and_at_most_two_statements(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        author, reader = make_account(conn, "author"), make_account(conn, "reader")
        ids = [
            make_post(conn, author, caption=f"p{i}", tags=["t"], upload_ids=[make_upload(conn, author)])
            for i in range(20)
        ]
        viewer = viewer_of(conn, reader)
        reactions.like(conn, viewer, ids[5])
    with db_engine.begin() as conn:
        postcache.hydrate(conn, redis_client, ids[:10], None)  # half the page is cached
        for who, expected_sql in ((viewer, 2), (viewer, 1), (None, 1)):  # misses, then all hits
            with statements(db_engine) as sent, redis_calls(redis_client, "mget") as mgets:
                page = postcache.hydrate(conn, redis_client, ids, who)
            assert len(sent) == expected_sql, sent
            assert mgets == [1]
            assert [p.id for p in page] == ids
            assert [p.liked_by_me for p in page] == [who is not None and i == 5 for i in range(20)]
            assert page[0].media[0].renditions[0].url.startswith("/v1/media/u/")


def test_entries_hold_no_viewer_fields_no_error_and_blob_keys_with_a_ttl(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    with db_engine.begin() as conn:
        author = make_account(conn, "author", private=True)
        post = make_post(conn, author, upload_ids=[make_upload(conn, author, info=photo_info("k/1"))])
        viewer = viewer_of(conn, author)
        reactions.like(conn, viewer, post)
        shown = postcache.hydrate(conn, redis_client, [post], viewer, urls=SigningUrls())
    raw = _cached(redis_client, post)
    assert raw is not None and raw.startswith(b"P")
    entry = pb.Post.FromString(raw[1:])
    assert not entry.liked_by_me and not entry.author.followed_by_me and entry.error == ""
    assert entry.media[0].renditions[0].url == "k/1-1080.jpg"  # the key: URLs are made per read
    assert shown[0].media[0].renditions[0].url == "/signed/k/1-1080.jpg" and shown[0].liked_by_me
    assert 0 < redis_client.pttl(keys.post_cache(post)) <= postcache.ENTRY_TTL_S * 1000


def test_viewers_share_an_entry_and_each_sees_what_it_may(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        author, fan, blocked = make_account(conn, "author"), make_account(conn, "fan"), make_account(conn, "blocked")
        make_block(conn, author, blocked)
        post = make_post(conn, author)
        reactions.like(conn, viewer_of(conn, fan), post)
        as_fan = postcache.hydrate(conn, redis_client, [post], viewer_of(conn, fan), "id,liked_by_me")
        as_author = postcache.hydrate(conn, redis_client, [post], viewer_of(conn, author), "id,liked_by_me")
        as_blocked = postcache.hydrate(conn, redis_client, [post], viewer_of(conn, blocked))
    assert as_fan == [pb.Post(id=post, liked_by_me=True)]
    assert as_author == [pb.Post(id=post)]
    assert as_blocked == []


def test_order_duplicates_unknown_and_bad_ids(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        author = make_account(conn, "author")
        a, b = make_post(conn, author), make_post(conn, author)
        unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        got = postcache.hydrate(conn, redis_client, [b, unknown, a, b], None, "id")
        assert [p.id for p in got] == [b, a]
        assert _cached(redis_client, unknown) is None  # nothing cached for a missing row
        assert postcache.hydrate(conn, redis_client, [], None) == []
        with pytest.raises(InvalidInput, match="'nope'"):
            postcache.hydrate(conn, redis_client, [a, "nope"], None)


def test_posts_not_ready_are_their_authors_and_never_cached(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        author, other = make_account(conn, "author"), make_account(conn, "other")
        failed = make_post(conn, author, state="failed", error="unsupported codec")
        mine = postcache.hydrate(conn, redis_client, [failed], viewer_of(conn, author), "state,error")
        theirs = postcache.hydrate(conn, redis_client, [failed], viewer_of(conn, other))
    assert mine == [pb.Post(state="failed", error="unsupported codec")]
    assert theirs == []
    assert _cached(redis_client, failed) is None


def test_an_edit_then_invalidate_shows_the_edit(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        post = make_post(conn, make_account(conn, "author"), caption="before")
        assert postcache.hydrate(conn, redis_client, [post], None)[0].caption == "before"
    with db_engine.begin() as conn:
        conn.execute(sa.update(posts).where(posts.c.id == post).values(caption="after", like_count=7))
    with db_engine.begin() as conn:
        assert postcache.hydrate(conn, redis_client, [post], None)[0].caption == "before"  # cached
    postcache.invalidate(redis_client, [post])
    tombstone = _cached(redis_client, post)
    assert tombstone is not None and tombstone.startswith(b"T")
    assert 0 < redis_client.pttl(keys.post_cache(post)) <= postcache.TOMBSTONE_TTL_S * 1000
    with db_engine.begin() as conn:
        shown = postcache.hydrate(conn, redis_client, [post], None, "caption,like_count")
    assert shown == [pb.Post(caption="after", like_count=7)]
    refilled = _cached(redis_client, post)
    assert refilled is not None and refilled.startswith(b"P")


@pytest.mark.parametrize("forget", ["invalidate", "delete"])
def test_a_slow_read_racing_an_invalidation_does_not_keep_a_stale_copy(
    db_engine: sa.Engine, redis_client: redis.Redis, forget: str
) -> None:
    """The reader misses and reads the old row; the writer commits an edit and forgets the entry
    before the reader writes back. With invalidate's tombstone the write-back is dropped; with a
    plain DEL (what the cache must not do) the stale copy would stay until its TTL."""
    with db_engine.begin() as conn:
        post = make_post(conn, make_account(conn, "author"), caption="old")
    interleaved: list[str] = []

    def writer_commits_after_the_readers_select(conn: object, cursor: object, statement: str, *args: object) -> None:
        if interleaved or "FROM posts JOIN accounts" not in statement:
            return
        interleaved.append(statement)
        with db_engine.begin() as other:
            other.execute(sa.update(posts).where(posts.c.id == post).values(caption="new"))
        if forget == "invalidate":
            postcache.invalidate(redis_client, [post])
        else:
            redis_client.delete(keys.post_cache(post))

    sa.event.listen(db_engine, "after_cursor_execute", writer_commits_after_the_readers_select)
    try:
        # A read-only transaction (DEFERRED on SQLite) lets the writer commit while it reads.
        with read_only(db_engine).begin() as conn:
            stale = postcache.hydrate(conn, redis_client, [post], None)
    finally:
        sa.event.remove(db_engine, "after_cursor_execute", writer_commits_after_the_readers_select)
    assert interleaved, "the writer never ran"
    assert stale[0].caption == "old"  # the slow reader answers what it read: fine, once
    with db_engine.begin() as conn:
        after = postcache.hydrate(conn, redis_client, [post], None)[0].caption
    assert after == ("new" if forget == "invalidate" else "old")


def test_a_missed_invalidation_never_shows_a_deleted_post_or_a_now_private_one(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    with db_engine.begin() as conn:
        author, other = make_account(conn, "author"), make_account(conn, "other")
        gone, private_now, kept = make_post(conn, author), make_post(conn, other), make_post(conn, other)
        assert len(postcache.hydrate(conn, redis_client, [gone, private_now, kept], None)) == 3
    with db_engine.begin() as conn:  # changes nobody invalidated
        conn.execute(sa.update(posts).where(posts.c.id == gone).values(deleted_at=1.0))
        conn.execute(sa.update(accounts).where(accounts.c.id == other).values(private=True))
    with db_engine.begin() as conn:
        anonymous = postcache.hydrate(conn, redis_client, [gone, private_now, kept], None)
        own = postcache.hydrate(conn, redis_client, [gone, private_now], viewer_of(conn, other), "id,author.private")
    assert anonymous == []
    assert own == [pb.Post(id=private_now, author=pb.Account(private=True))]
