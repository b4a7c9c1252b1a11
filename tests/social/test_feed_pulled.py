"""The pulled sets (feed/pulled.py): built from SQL when missing, then kept in step by the feed
consumer: a follow or unfollow of a celebrity, a block, and an author crossing the threshold."""

from __future__ import annotations

import redis
import sqlalchemy as sa

from darkroom.social import keys
from darkroom.social.events import Event, EventType
from darkroom.social.feed import FanoutHandler, FeedConfig, pulled, read_feed
from tests.social import rows
from tests.social.statements import statements

_CONFIG = FeedConfig(celebrity_followers=2)


def _read(engine: sa.Engine, client: redis.Redis, viewer: str) -> list[str]:
    with engine.connect() as conn:
        return pulled.celebrities(conn, client, viewer, above=_CONFIG.celebrity_followers)


def _celebrity(conn: sa.Connection, *followers: str) -> str:
    star = rows.make_account(conn)
    for f in followers:
        rows.make_follow(conn, f, star)
    for _ in range(3 - len(followers)):
        rows.make_follow(conn, rows.make_account(conn), star)
    return star


def test_built_from_sql_once_then_read_from_redis(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        reader = rows.make_account(conn)
        star, friend = _celebrity(conn, reader), rows.make_account(conn)
        rows.make_follow(conn, reader, friend)
    assert _read(db_engine, redis_client, reader) == [star]
    with statements(db_engine) as seen:
        assert _read(db_engine, redis_client, reader) == [star]
    assert seen == []
    assert 0 < redis_client.ttl(keys.pulled(reader)) <= pulled.PULLED_TTL_S


def test_follow_unfollow_and_block_keep_the_set_in_step(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        reader = rows.make_account(conn)
        star, other = _celebrity(conn, reader), _celebrity(conn)
    assert _read(db_engine, redis_client, reader) == [star]  # built
    handler = FanoutHandler(db_engine, redis_client, config=_CONFIG)
    with db_engine.begin() as conn:
        rows.make_follow(conn, reader, other)
    handler.handle([Event(EventType.ACCOUNT_FOLLOWED, reader, data={"followee_id": other})])
    assert _read(db_engine, redis_client, reader) == sorted([star, other])
    with db_engine.begin() as conn:
        rows.remove_follow(conn, reader, other)
    handler.handle([Event(EventType.ACCOUNT_UNFOLLOWED, reader, data={"followee_id": other})])
    assert _read(db_engine, redis_client, reader) == [star]
    with db_engine.begin() as conn:
        rows.remove_follow(conn, reader, star)
        rows.make_block(conn, star, reader)
    handler.handle([Event(EventType.ACCOUNT_BLOCKED, star, data={"blocked_id": reader})])
    assert _read(db_engine, redis_client, reader) == []


def test_a_follow_does_not_create_a_missing_set(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    with db_engine.begin() as conn:
        reader = rows.make_account(conn)
        star = _celebrity(conn, reader)
    FanoutHandler(db_engine, redis_client, config=_CONFIG).handle(
        [Event(EventType.ACCOUNT_FOLLOWED, reader, data={"followee_id": star})]
    )
    assert not redis_client.exists(keys.pulled(reader))  # rebuilt from SQL at the next read instead
    assert _read(db_engine, redis_client, reader) == [star]


def test_an_author_crossing_the_threshold_is_added_at_its_next_post(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    with db_engine.begin() as conn:
        reader, idle, author = rows.make_account(conn), rows.make_account(conn), rows.make_account(conn)
        rows.make_follow(conn, reader, author)
        rows.make_follow(conn, idle, author)
    assert _read(db_engine, redis_client, reader) == []  # 2 followers: pushed, not pulled
    with db_engine.begin() as conn:
        rows.make_follow(conn, rows.make_account(conn), author)  # 3: a celebrity now
        post = rows.make_post(conn, author)
    handler = FanoutHandler(db_engine, redis_client, config=_CONFIG)
    handler.handle([Event(EventType.POST_READY, author, post_id=post)])
    assert _read(db_engine, redis_client, reader) == [author]
    assert not redis_client.exists(keys.pulled(idle))  # no set, none made
    assert redis_client.exists(keys.pulled_told(author))
    with db_engine.begin() as conn:
        rows.remove_follow(conn, idle, author)  # 2 again: pushed again, and forgotten as a celebrity
        again = rows.make_post(conn, author)
    handler.handle([Event(EventType.POST_READY, author, post_id=again)])
    assert not redis_client.exists(keys.pulled_told(author))


def test_a_block_hides_a_pulled_celebritys_posts_before_the_consumer_runs(
    db_engine: sa.Engine, redis_client: redis.Redis
) -> None:
    with db_engine.begin() as conn:
        reader = rows.make_account(conn)
        star = _celebrity(conn, reader)
        post = rows.make_post(conn, star)
    FanoutHandler(db_engine, redis_client, config=_CONFIG).handle([Event(EventType.POST_READY, star, post_id=post)])

    def page() -> list[str]:
        with db_engine.begin() as conn:
            return read_feed(conn, redis_client, reader, cursor=None, limit=20, config=_CONFIG).post_ids

    assert page() == [post]  # pulled
    with db_engine.begin() as conn:
        rows.make_block(conn, star, reader)  # no event handled: the pulled set still names the star
    assert redis_client.sismember(keys.pulled(reader), star)
    assert page() == []  # the page's visibility check, not the set, decides what shows


def test_every_key_has_an_account_hash_tag_and_an_expiry(db_engine: sa.Engine, redis_client: redis.Redis) -> None:
    """Redis Cluster: an account's keys share one slot; nothing kept forever but an author's recent
    posts (a pull source must stay whole: docs/social.md, "Redis shape")."""
    with db_engine.begin() as conn:
        reader = rows.make_account(conn)
        star = _celebrity(conn, reader)
        post = rows.make_post(conn, star)
    assert _read(db_engine, redis_client, reader) == [star]
    FanoutHandler(db_engine, redis_client, config=_CONFIG).handle([Event(EventType.POST_READY, star, post_id=post)])
    with db_engine.begin() as conn:
        assert read_feed(conn, redis_client, reader, cursor=None, limit=20, config=_CONFIG).post_ids == [post]
    found = [k.decode() for k in redis_client.scan_iter("social:*")]
    assert keys.pulled_told(star) in found
    for key in found:
        assert key.startswith("social:{a:"), key
        assert key.endswith(":posts") or redis_client.pttl(key) > 0, key
