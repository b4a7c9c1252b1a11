"""The feed consumer on real Redis and SQL (SQLite and PostgreSQL): who gets a post, who does not,
what unfollow, block and delete take out, idempotence, and a kill -9 mid-fan-out then a re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
import redis
import sqlalchemy as sa

from darkroom.social import keys
from darkroom.social.events import Event, EventType, Handler
from darkroom.social.feed import FanoutHandler, FeedConfig, FeedDesign, FeedStore
from tests.social import rows


@dataclass
class Counting:
    calls: list[int] = field(default_factory=list)

    def pushed(self, post_id: str, feeds: int) -> None:
        self.calls.append(feeds)


def _feed(client: redis.Redis, owner: str) -> list[str]:
    return [m.decode() for m in client.zrange(keys.feed(owner), 0, -1) if m != keys.FEED_BUILT.encode()]


def _ready(post_id: str, author: str) -> Event:
    return Event(EventType.POST_READY, author, post_id=post_id)


def _build(client: redis.Redis, *owners: str) -> None:
    store = FeedStore(client)
    for owner in owners:
        store.build(owner, [])


@dataclass
class World:
    author: str
    active: list[str]
    inactive: str
    requested: str


@pytest.fixture
def world(db_engine: sa.Engine, redis_client: redis.Redis) -> World:
    """An author followed by three active accounts with feeds, one inactive (no feed) and one
    pending request."""
    with db_engine.begin() as conn:
        author = rows.make_account(conn, private=True)
        active = [rows.make_account(conn) for _ in range(3)]
        inactive, requested = rows.make_account(conn), rows.make_account(conn)
        for f in [*active, inactive]:
            rows.make_follow(conn, f, author)
        rows.make_follow(conn, requested, author, state="requested")
    _build(redis_client, author, *active, requested)
    return World(author, active, inactive, requested)


def test_a_ready_post_reaches_active_followers_only(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World
) -> None:
    with db_engine.begin() as conn:
        post = rows.make_post(conn, world.author)
    handler: Handler = FanoutHandler(db_engine, redis_client)  # an events consumer
    assert handler.name == "feed"
    handler.handle([_ready(post, world.author)])
    for owner in [world.author, *world.active]:
        assert _feed(redis_client, owner) == [post]
    assert not redis_client.exists(keys.feed(world.inactive))
    assert _feed(redis_client, world.requested) == []
    assert redis_client.zrange(keys.author_posts(world.author), 0, -1) == [post.encode()]


def test_posts_not_ready_or_deleted_are_not_pushed(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World
) -> None:
    with db_engine.begin() as conn:
        processing = rows.make_post(conn, world.author, state="processing")
        deleted = rows.make_post(conn, world.author)
        rows.delete_post(conn, deleted)
    FanoutHandler(db_engine, redis_client).handle([_ready(processing, world.author), _ready(deleted, world.author)])
    assert _feed(redis_client, world.active[0]) == []
    assert not redis_client.exists(keys.author_posts(world.author))


def test_a_celebritys_post_is_only_recorded_for_pulling(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World
) -> None:
    with db_engine.begin() as conn:
        post = rows.make_post(conn, world.author)
    # four followers: above a threshold of 3
    FanoutHandler(db_engine, redis_client, config=FeedConfig(celebrity_followers=3)).handle(
        [_ready(post, world.author)]
    )
    assert all(_feed(redis_client, f) == [] for f in world.active)
    assert _feed(redis_client, world.author) == [post]  # the author's own feed still gets it
    assert redis_client.zrange(keys.author_posts(world.author), 0, -1) == [post.encode()]
    # the push design ignores the threshold; the pull and SQL designs push nothing
    with db_engine.begin() as conn:
        pushed, pulled, joined = (rows.make_post(conn, world.author) for _ in range(3))
    config = FeedConfig(celebrity_followers=1000)
    FanoutHandler(db_engine, redis_client, config=config, design=FeedDesign.PUSH).handle([_ready(pushed, world.author)])
    FanoutHandler(db_engine, redis_client, config=config, design=FeedDesign.PULL).handle([_ready(pulled, world.author)])
    FanoutHandler(db_engine, redis_client, config=config, design=FeedDesign.SQL).handle([_ready(joined, world.author)])
    assert all(_feed(redis_client, f) == [pushed] for f in world.active)
    assert _feed(redis_client, world.author) == [post, pushed]
    assert len(redis_client.zrange(keys.author_posts(world.author), 0, -1)) == 4


def test_followers_are_read_in_pages_and_pushed_in_batches(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        author = rows.make_account(conn)
        followers = [rows.make_account(conn) for _ in range(23)]
        for f in followers:
            rows.make_follow(conn, f, author)
        post = rows.make_post(conn, author)
    _build(redis_client, *followers[1:])  # the first one is inactive
    seen = Counting()
    config = FeedConfig(follower_page=7, batch_keys=3)
    FanoutHandler(db_engine, redis_client, config=config, observer=seen).handle([_ready(post, author)])
    assert [len(_feed(redis_client, f)) for f in followers] == [0] + [1] * 22
    # pages of 7, 7, 7, 2, each in batches of at most 3: 3+3+1 three times, then 2
    assert len(seen.calls) == 10
    assert sum(seen.calls) == 22


def test_deleting_a_post_takes_it_out_everywhere(db_engine: sa.Engine, redis_client: redis.Redis, world: World) -> None:
    handler = FanoutHandler(db_engine, redis_client)
    with db_engine.begin() as conn:
        kept, gone = rows.make_post(conn, world.author), rows.make_post(conn, world.author)
    handler.handle([_ready(kept, world.author), _ready(gone, world.author)])
    with db_engine.begin() as conn:
        rows.delete_post(conn, gone)
    deleted = Event(EventType.POST_DELETED, world.author, post_id=gone)
    handler.handle([deleted, deleted])  # delivered twice: the second is a no-op
    for owner in [world.author, *world.active]:
        assert _feed(redis_client, owner) == [kept]
    assert redis_client.zrange(keys.author_posts(world.author), 0, -1) == [kept.encode()]


def test_unfollow_takes_the_followees_posts_out(db_engine: sa.Engine, redis_client: redis.Redis, world: World) -> None:
    reader = world.active[0]
    with db_engine.begin() as conn:
        other = rows.make_account(conn)
        rows.make_follow(conn, reader, other)
        theirs = [rows.make_post(conn, world.author) for _ in range(3)]
        mine = rows.make_post(conn, other)
    handler = FanoutHandler(db_engine, redis_client)
    handler.handle([_ready(p, world.author) for p in theirs] + [_ready(mine, other)])
    assert _feed(redis_client, reader) == [*theirs, mine]
    unfollowed = Event(EventType.ACCOUNT_UNFOLLOWED, reader, data={"followee_id": world.author})
    handler.handle([unfollowed])  # not applied yet in SQL (a replay after a re-follow): kept
    assert _feed(redis_client, reader) == [*theirs, mine]
    with db_engine.begin() as conn:
        rows.remove_follow(conn, reader, world.author)
    handler.handle([unfollowed])
    assert _feed(redis_client, reader) == [mine]


def test_block_takes_posts_out_both_ways(db_engine: sa.Engine, redis_client: redis.Redis, world: World) -> None:
    fan = world.active[0]
    with db_engine.begin() as conn:
        rows.make_follow(conn, world.author, fan)
        by_author, by_fan = rows.make_post(conn, world.author), rows.make_post(conn, fan)
    handler = FanoutHandler(db_engine, redis_client)
    handler.handle([_ready(by_author, world.author), _ready(by_fan, fan)])
    assert _feed(redis_client, fan) == [by_author, by_fan]
    assert _feed(redis_client, world.author) == [by_author, by_fan]
    with db_engine.begin() as conn:
        rows.make_block(conn, world.author, fan)
    handler.handle([Event(EventType.ACCOUNT_BLOCKED, world.author, data={"blocked_id": fan})])
    assert _feed(redis_client, fan) == [by_fan]
    assert _feed(redis_client, world.author) == [by_author]
    assert _feed(redis_client, world.active[1]) == [by_author]


def test_a_follow_brings_the_followees_recent_posts(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        reader, author, celebrity, away = (rows.make_account(conn) for _ in range(4))
        posts = [rows.make_post(conn, author) for _ in range(4)]
        rows.delete_post(conn, posts[1])
        draft = rows.make_post(conn, author, state="processing")
        star_post = rows.make_post(conn, celebrity)
        for followee in (author, celebrity):
            rows.make_follow(conn, reader, followee)
            rows.make_follow(conn, away, followee)
        for _ in range(3):
            rows.make_follow(conn, rows.make_account(conn), celebrity)
    _build(redis_client, reader)
    handler = FanoutHandler(db_engine, redis_client, config=FeedConfig(celebrity_followers=3))
    handler.handle(
        [
            Event(EventType.ACCOUNT_FOLLOWED, reader, data={"followee_id": author}),
            Event(EventType.ACCOUNT_FOLLOWED, reader, data={"followee_id": celebrity}),  # pulled at read time
            Event(EventType.ACCOUNT_FOLLOWED, away, data={"followee_id": author}),  # no feed: nothing made
        ]
    )
    assert _feed(redis_client, reader) == [posts[0], posts[2], posts[3]]
    assert draft not in _feed(redis_client, reader) and star_post not in _feed(redis_client, reader)
    assert not redis_client.exists(keys.feed(away))


def test_events_without_their_account_are_skipped(
    db_engine: sa.Engine, redis_client: redis.Redis, world: World
) -> None:
    handler = FanoutHandler(db_engine, redis_client)
    handler.handle(
        [
            Event(EventType.ACCOUNT_FOLLOWED, world.active[0]),
            Event(EventType.ACCOUNT_BLOCKED, world.active[0], data={"blocked_id": 7}),
            Event(EventType.POST_LIKED, world.active[0]),
        ]
    )
    assert _feed(redis_client, world.active[0]) == []


# -- a crash mid-fan-out ---------------------------------------------------------------------------
_CHILD = """
import os, sys
import redis
from darkroom.social.events import Event, EventType, Handler
from darkroom.social.feed import FanoutHandler, FeedConfig
from darkroom.storage.db import open_database

class StopAfterFirstBatch:
    def pushed(self, post_id, feeds):
        sys.stdout.write(f"pushed {feeds}\\n")
        sys.stdout.flush()
        sys.stdin.readline()  # held here until the test kills this process

engine = open_database(os.environ["FEED_DATABASE_URL"])
client = redis.Redis.from_url(os.environ["FEED_REDIS_URL"])
handler = FanoutHandler(engine, client, config=FeedConfig(batch_keys=10), observer=StopAfterFirstBatch())
handler.handle([Event(EventType.POST_READY, sys.argv[2], post_id=sys.argv[1])])
"""


def test_a_killed_fanout_rerun_leaves_the_post_once_in_every_feed(
    db_engine: sa.Engine, redis_client: redis.Redis, redis_url: str, database_url: str
) -> None:
    with db_engine.begin() as conn:
        author = rows.make_account(conn)
        followers = [rows.make_account(conn) for _ in range(35)]
        for f in followers:
            rows.make_follow(conn, f, author)
        earlier = rows.make_post(conn, author)
        post = rows.make_post(conn, author)
    _build(redis_client, author, *followers)
    handler = FanoutHandler(db_engine, redis_client)
    handler.handle([_ready(earlier, author)])

    env = {**os.environ, "FEED_DATABASE_URL": database_url, "FEED_REDIS_URL": redis_url}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, post, author], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "pushed 10\n"  # the child is inside its first batch's callback
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    holding = [f for f in followers if post in _feed(redis_client, f)]
    assert len(holding) == 10  # mid-fan-out: one batch of 10 done, 25 feeds still without it

    handler.handle([_ready(post, author)])  # the consumer group hands the unacknowledged event out again
    for owner in [author, *followers]:
        members = redis_client.zrange(keys.feed(owner), 0, -1)
        assert members == [earlier.encode(), post.encode(), keys.FEED_BUILT.encode()]
