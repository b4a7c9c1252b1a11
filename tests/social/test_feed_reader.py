"""Reading the home feed on real Redis and SQL (SQLite and PostgreSQL): rebuild on a miss, the
celebrities' posts merged in, cursors stable while posts arrive, bad cursors and limits refused,
deleted and hidden posts never shown, and the four designs (and read_feed's SQL one) agreeing on the same data."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
import redis
import sqlalchemy as sa

from darkroom.config import ConfigError, Settings
from darkroom.social import keys
from darkroom.social.errors import InvalidInput
from darkroom.social.events import Event, EventType
from darkroom.social.feed import FanoutHandler, FeedConfig, FeedDesign, FeedPage, read_feed, sql_feed
from darkroom.social.feed.cursors import encode
from darkroom.storage.db import read_only
from darkroom.storage.schema import accounts
from tests.social import rows

CONFIG = FeedConfig(celebrity_followers=3, active_window_s=86400)


def _read(
    engine: sa.Engine,
    client: redis.Redis,
    viewer: str,
    cursor: str | None = None,
    limit: int = 20,
    design: FeedDesign = FeedDesign.HYBRID,
) -> FeedPage:
    with engine.begin() as conn:
        return read_feed(conn, client, viewer, cursor=cursor, limit=limit, design=design, config=CONFIG)


def _sql(engine: sa.Engine, viewer: str, cursor: str | None, limit: int) -> FeedPage:
    with engine.connect() as conn:
        return sql_feed(conn, viewer, cursor, limit)


def _all_pages(engine: sa.Engine, client: redis.Redis, viewer: str, limit: int, design: FeedDesign) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = _read(engine, client, viewer, cursor, limit, design)
        pages.append(page.post_ids)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


@dataclass
class World:
    viewer: str
    public: str
    private: str
    celebrity: str
    expected: list[str]  # the viewer's whole feed, newest first


@pytest.fixture
def world(db_engine: sa.Engine, redis_client: redis.Redis) -> World:
    """A viewer following a public account, a private one and a celebrity (pulled), with a pending
    request to another private account; posts of each interleaved in time, some not showable."""
    with db_engine.begin() as conn:
        viewer = rows.make_account(conn)
        public, private = rows.make_account(conn), rows.make_account(conn, private=True)
        celebrity = rows.make_account(conn, follower_count=10)
        pending, stranger = rows.make_account(conn, private=True), rows.make_account(conn)
        for followee in (public, private, celebrity):
            rows.make_follow(conn, viewer, followee)
        rows.make_follow(conn, viewer, pending, state="requested")
        expected: list[str] = []
        for _ in range(3):
            for author in (public, celebrity, private, viewer):
                expected.append(rows.make_post(conn, author))
            rows.make_post(conn, pending)
            rows.make_post(conn, stranger)
            rows.make_post(conn, public, state="processing")
            rows.delete_post(conn, rows.make_post(conn, celebrity))
    return World(viewer, public, private, celebrity, expected[::-1])


def _last_seen(engine: sa.Engine, account: str) -> float | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(accounts.c.last_seen_at).where(accounts.c.id == account)).scalar()


def test_a_missing_feed_is_rebuilt_from_sql(db_engine: sa.Engine, redis_client: redis.Redis, world: World) -> None:
    page = _read(db_engine, redis_client, world.viewer)
    assert page == FeedPage(world.expected, None)
    feed = [m.decode() for m in redis_client.zrange(keys.feed(world.viewer), 0, -1)]
    # the celebrity's posts are not in the feed (pulled from their recent posts, rebuilt too)
    assert feed == sorted(p for p in world.expected if p not in _posts_of(redis_client, world.celebrity)) + ["~"]
    assert len(_posts_of(redis_client, world.celebrity)) == 3
    assert 86_000_000 < redis_client.pttl(keys.feed(world.viewer)) <= 86_400_000


def _posts_of(client: redis.Redis, author: str) -> list[str]:
    return [m.decode() for m in client.zrange(keys.author_posts(author), 0, -1) if m != b"~"]


def test_reads_refresh_the_expiry_and_touch_last_seen_hourly(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World
) -> None:
    assert _last_seen(db_engine, world.viewer) is None
    _read(db_engine, redis_client, world.viewer)
    first = _last_seen(db_engine, world.viewer)
    assert first is not None
    with db_engine.begin() as conn:
        conn.execute(sa.update(accounts).where(accounts.c.id == world.viewer).values(last_seen_at=1.0))
    redis_client.pexpire(keys.feed(world.viewer), 1000)
    _read(db_engine, redis_client, world.viewer)
    assert _last_seen(db_engine, world.viewer) == 1.0  # within the hour: not written again
    assert redis_client.pttl(keys.feed(world.viewer)) > 86_000_000
    redis_client.delete(keys.seen(world.viewer))  # the hour is over
    _read(db_engine, redis_client, world.viewer)
    assert (_last_seen(db_engine, world.viewer) or 0) >= first


def test_a_read_that_leaves_last_seen_to_its_caller_runs_in_a_read_only_transaction(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World
) -> None:
    with read_only(db_engine).begin() as conn:  # PostgreSQL refuses any write in it
        page = read_feed(conn, redis_client, world.viewer, cursor=None, limit=20, config=CONFIG, touch_last_seen=False)
    assert page == FeedPage(world.expected, None)
    assert _last_seen(db_engine, world.viewer) is None and not redis_client.exists(keys.seen(world.viewer))


def test_celebrity_posts_are_merged_with_pushed_ones(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World
) -> None:
    _read(db_engine, redis_client, world.viewer)  # builds the feed
    handler = FanoutHandler(db_engine, redis_client, config=CONFIG)
    with db_engine.begin() as conn:
        new = [rows.make_post(conn, a) for a in (world.celebrity, world.public, world.celebrity)]
    handler.handle([Event(EventType.POST_READY, "x", post_id=p) for p in new])
    feed = redis_client.zrange(keys.feed(world.viewer), 0, -1)
    assert new[1].encode() in feed and new[0].encode() not in feed and new[2].encode() not in feed
    assert _read(db_engine, redis_client, world.viewer, limit=5).post_ids == [*new[::-1], *world.expected[:2]]


def test_cursors_stay_put_while_new_posts_arrive(db_engine: sa.Engine, redis_client: redis.Redis, world: World) -> None:
    handler = FanoutHandler(db_engine, redis_client, config=CONFIG)
    first = _read(db_engine, redis_client, world.viewer, limit=5)
    assert first.post_ids == world.expected[:5] and first.next_cursor
    with db_engine.begin() as conn:
        arrived = [rows.make_post(conn, a) for a in (world.public, world.celebrity, world.private)]
    handler.handle([Event(EventType.POST_READY, "x", post_id=p) for p in arrived])
    second = _read(db_engine, redis_client, world.viewer, first.next_cursor, limit=5)
    assert second.post_ids == world.expected[5:10] and second.next_cursor
    third = _read(db_engine, redis_client, world.viewer, second.next_cursor, limit=5)
    assert third == FeedPage(world.expected[10:], None)
    assert _read(db_engine, redis_client, world.viewer, limit=3).post_ids == arrived[::-1]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!!",
        "x" * 10_000,
        base64.urlsafe_b64encode(b"\x01" + bytes(22)).decode().rstrip("="),  # well-formed, wrong tag
        base64.urlsafe_b64encode(b"01M9913110CGSA4XRFM1FYXA4Y").decode(),  # a plain id, base64'd
        "é" * 30,
    ],
)
def test_a_forged_or_garbled_cursor_is_refused(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World, cursor: str
) -> None:
    for read in (
        lambda: _read(db_engine, redis_client, world.viewer, cursor),
        lambda: _sql(db_engine, world.viewer, cursor, 20),
    ):
        with pytest.raises(InvalidInput, match="is not a feed cursor") as caught:
            read()
        assert caught.value.field == "cursor"
        assert cursor[:60] in str(caught.value)
    assert not redis_client.exists(keys.feed(world.viewer))  # refused before anything was read or built


def test_a_cursor_with_one_character_changed_is_refused(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World
) -> None:
    good = encode(world.expected[3])
    for i in range(len(good)):
        for c in "AB":  # the last character's two spare bits included: 'A' and 'B' differ in one
            forged = good[:i] + c + good[i + 1 :]
            if forged != good:
                with pytest.raises(InvalidInput, match=f"cursor '{forged}'"):
                    _read(db_engine, redis_client, world.viewer, forged)
    assert _read(db_engine, redis_client, world.viewer, good).post_ids == world.expected[4:]


def test_limit_is_1_to_100(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        viewer, author = rows.make_account(conn), rows.make_account(conn)
        rows.make_follow(conn, viewer, author)
        posts = rows.make_posts(conn, author, 120)
    page = _read(db_engine, redis_client, viewer, limit=100)
    assert page.post_ids == posts[::-1][:100] and page.next_cursor
    for bad in (101, 0, -1, True, 2.5, "20"):
        with pytest.raises(InvalidInput, match=f"limit {bad!r} is not") as caught:
            _read(db_engine, redis_client, viewer, limit=bad)  # type: ignore[arg-type]
        assert caught.value.field == "limit"
    with pytest.raises(InvalidInput, match="limit 101"):
        _sql(db_engine, viewer, None, 101)


def test_a_full_feed_pages_to_its_end(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        viewer, author = rows.make_account(conn), rows.make_account(conn)
        rows.make_follow(conn, viewer, author)
        posts = rows.make_posts(conn, author, 850)
    pages = _all_pages(db_engine, redis_client, viewer, 100, FeedDesign.HYBRID)
    assert [len(p) for p in pages] == [100] * 8  # the feed keeps the newest 800
    assert [p for page in pages for p in page] == posts[::-1][:800]


def test_deleted_and_hidden_posts_never_show(db_engine: sa.Engine, redis_client: redis.Redis, world: World) -> None:
    """Changes whose events the feed consumer has not handled yet: the page check hides them, and
    the page is still full."""
    _read(db_engine, redis_client, world.viewer)
    deleted = world.expected[0]
    with db_engine.begin() as conn:
        rows.delete_post(conn, deleted)
        rows.make_block(conn, world.private, world.viewer)
    hidden = {deleted, *(p for p in world.expected if _author(db_engine, p) == world.private)}
    visible = [p for p in world.expected if p not in hidden]
    assert _read(db_engine, redis_client, world.viewer, limit=4).post_ids == visible[:4]
    pages = _all_pages(db_engine, redis_client, world.viewer, 2, FeedDesign.HYBRID)
    assert [p for page in pages for p in page] == visible


def _author(engine: sa.Engine, post_id: str) -> str:
    from darkroom.storage.schema import posts

    with engine.connect() as conn:
        return str(conn.execute(sa.select(posts.c.author_id).where(posts.c.id == post_id)).scalar())


def test_the_designs_agree(db_engine: sa.Engine, redis_client: redis.Redis, world: World) -> None:
    """Hybrid (fanned out), push (rebuilt from SQL), pull (authors' recent posts) and the SQL join
    page the same feed."""
    expected = [world.expected[i : i + 5] for i in range(0, len(world.expected), 5)]
    handler = FanoutHandler(db_engine, redis_client, config=CONFIG)
    _read(db_engine, redis_client, world.viewer)
    handler.handle([Event(EventType.POST_READY, "x", post_id=p) for p in world.expected])
    assert _all_pages(db_engine, redis_client, world.viewer, 5, FeedDesign.HYBRID) == expected
    redis_client.flushdb()
    assert _all_pages(db_engine, redis_client, world.viewer, 5, FeedDesign.PUSH) == expected
    assert redis_client.zcard(keys.feed(world.viewer)) == len(world.expected) + 1  # celebrity's pushed too
    redis_client.flushdb()
    FanoutHandler(db_engine, redis_client, config=CONFIG, design=FeedDesign.PULL).handle(
        [Event(EventType.POST_READY, "x", post_id=p) for p in world.expected]
    )
    assert _all_pages(db_engine, redis_client, world.viewer, 5, FeedDesign.PULL) == expected
    assert not redis_client.exists(keys.feed(world.viewer))
    pages, cursor = [], None
    with db_engine.connect() as conn:
        while True:
            page = sql_feed(conn, world.viewer, cursor, 5)
            pages.append(page.post_ids)
            if (cursor := page.next_cursor) is None:
                break
    assert pages == expected
    redis_client.flushdb()  # read_feed's SQL design is the join, and reads or writes nothing in Redis
    assert _all_pages(db_engine, redis_client, world.viewer, 5, FeedDesign.SQL) == expected
    assert redis_client.dbsize() == 0


def test_the_design_from_the_settings() -> None:
    assert FeedDesign.from_settings(Settings.from_env({})) is FeedDesign.HYBRID
    assert FeedDesign.from_settings(Settings.from_env({"DARKROOM_FEED_DESIGN": " SQL "})) is FeedDesign.SQL
    designs = [FeedDesign.from_settings(Settings(feed_design=d.value)) for d in FeedDesign]
    assert designs == list(FeedDesign)
    with pytest.raises(ConfigError, match="DARKROOM_FEED_DESIGN='fanout' must be one of hybrid, push, pull, sql"):
        FeedDesign.from_settings(Settings.from_env({"DARKROOM_FEED_DESIGN": "fanout"}))
