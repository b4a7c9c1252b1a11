"""The counters handler and repair, against SQLite and PostgreSQL (``db_engine``) and a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import Engine, event
from typer.testing import CliRunner

from darkroom.cli import app
from darkroom.social import keys
from darkroom.social.consumers import MAX_CONSUMER_BATCH
from darkroom.social.counters import CountersHandler, Touched, repair_counters, touched_by
from darkroom.social.events import Event, EventType, record
from darkroom.social.ids import new_id
from darkroom.social.relay import Relay
from darkroom.storage.schema import accounts, outbox, posts
from tests.social import event_rows as rows


def _drain(engine: Engine, client: redis.Redis) -> list[Event]:
    """Publish the outbox and answer the events published since the last call."""
    before = client.xlen(keys.EVENTS)
    relay = Relay(engine, client)
    while relay.publish_once(1000):
        pass
    relay.release()
    return rows.stream_events(client)[before:]


def _versions(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        found = {r.id: r.version for r in conn.execute(sa.select(accounts.c.id, accounts.c.version))}
        found.update({r.id: r.version for r in conn.execute(sa.select(posts.c.id, posts.c.version))})
    return found


@pytest.fixture
def world(db_engine: Engine) -> dict[str, str]:
    """ann ⇄ bob, cid → bob, dee requests bob; bob has a ready post (liked by ann and cid, two comments,
    one deleted), a processing one and a deleted one."""
    with db_engine.begin() as conn:
        w = {h: rows.account(conn, h) for h in ("ann", "bob", "cid", "dee")}
    with db_engine.begin() as conn:
        rows.follow(conn, w["ann"], w["bob"])
        rows.follow(conn, w["bob"], w["ann"])
        rows.follow(conn, w["cid"], w["bob"])
        rows.follow(conn, w["dee"], w["bob"], state="requested")
        w["ready"] = rows.post(conn, w["bob"])
        w["processing"] = rows.post(conn, w["bob"], state="processing")
        w["gone"] = rows.post(conn, w["bob"])
    with db_engine.begin() as conn:
        rows.delete_post(conn, w["bob"], w["gone"])
        rows.like(conn, w["ann"], w["ready"])
        rows.like(conn, w["cid"], w["ready"])
        rows.comment(conn, w["ann"], w["ready"])
        rows.delete_comment(conn, w["bob"], w["ready"], rows.comment(conn, w["cid"], w["ready"]))
    return w


def test_a_batch_recounts_from_the_rows_and_a_redelivery_changes_nothing(
    db_engine: Engine, redis_client: redis.Redis, world: dict[str, str]
) -> None:
    handler = CountersHandler(db_engine, redis_client)
    batch = _drain(db_engine, redis_client)
    handler.handle(batch)
    w = world
    with db_engine.connect() as conn:
        assert rows.account_counts(conn, [w["ann"], w["bob"], w["cid"], w["dee"]]) == {
            w["ann"]: (1, 1, 0),
            w["bob"]: (2, 1, 1),  # dee's request is not a follow; the deleted post is not a post
            w["cid"]: (0, 1, 0),
            w["dee"]: (0, 0, 0),
        }
        assert rows.post_counts(conn, [w["ready"], w["gone"]]) == {w["ready"]: (2, 1), w["gone"]: (0, 0)}
    versions = _versions(db_engine)
    assert versions[w["bob"]] == 2 and versions[w["dee"]] == 1  # bumped once, and only on a change

    handler.handle(batch)  # delivered again after a crash
    handler.handle(list(reversed(batch)))

    assert _versions(db_engine) == versions


def test_undoing_brings_the_counters_down(db_engine: Engine, redis_client: redis.Redis, world: dict[str, str]) -> None:
    handler = CountersHandler(db_engine, redis_client)
    handler.handle(_drain(db_engine, redis_client))
    w = world
    with db_engine.begin() as conn:
        rows.unfollow(conn, w["cid"], w["bob"])
        rows.unlike(conn, w["ann"], w["ready"])
        rows.delete_post(conn, w["bob"], w["ready"])
    handler.handle(_drain(db_engine, redis_client))
    with db_engine.connect() as conn:
        assert rows.account_counts(conn, [w["bob"], w["cid"]]) == {w["bob"]: (1, 1, 0), w["cid"]: (0, 0, 0)}
        assert rows.post_counts(conn, [w["ready"]]) == {w["ready"]: (1, 1)}


def test_a_deleted_account_leaves_the_counts_of_those_it_followed_and_who_followed_it(
    db_engine: Engine, redis_client: redis.Redis, world: dict[str, str]
) -> None:
    handler = CountersHandler(db_engine, redis_client)
    handler.handle(_drain(db_engine, redis_client))
    w = world
    with db_engine.begin() as conn:  # a soft delete: the follows rows stay
        conn.execute(sa.update(accounts).where(accounts.c.id == w["ann"]).values(deleted_at=1.0))
        record(conn, Event(EventType.ACCOUNT_DELETED, w["ann"]))
    handler.handle(_drain(db_engine, redis_client))
    with db_engine.connect() as conn:
        assert rows.account_counts(conn, [w["bob"]]) == {w["bob"]: (1, 0, 1)}


def _cached(client: redis.Redis, post_id: str) -> bool:
    """Whether the post cache holds a copy of the post (an invalidation leaves a tombstone, ``T``…)."""
    value = client.get(keys.post_cache(post_id))
    return isinstance(value, bytes) and not value.startswith(b"T")


def test_the_cached_copies_of_recounted_posts_are_dropped(
    db_engine: Engine, redis_client: redis.Redis, world: dict[str, str]
) -> None:
    other = new_id()
    for post_id in (world["ready"], other):
        redis_client.set(keys.post_cache(post_id), b"{}")
    CountersHandler(db_engine, redis_client).handle(_drain(db_engine, redis_client))
    assert not _cached(redis_client, world["ready"])
    assert redis_client.get(keys.post_cache(other)) == b"{}"


@pytest.fixture
def statements(db_engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(db_engine, "before_cursor_execute", count)
    yield seen
    event.remove(db_engine, "before_cursor_execute", count)


@pytest.mark.parametrize("size", [2, 166])
def test_a_batch_costs_one_query_per_counter_kind_whatever_its_size(
    db_engine: Engine, redis_client: redis.Redis, statements: list[str], size: int
) -> None:
    """Up to the consumer's largest batch (166 fans: 997 events, and 3 naming rows that do not exist
    in the middle, 1,000 in all)."""
    with db_engine.begin() as conn:
        star = rows.account(conn, "star")
        fans = [rows.account(conn, f"fan{i}") for i in range(size)]
        made = [rows.post(conn, fan) for fan in fans]
    with db_engine.begin() as conn:
        for fan, post_id in zip(fans, made, strict=True):
            rows.follow(conn, fan, star)
            rows.like(conn, star, post_id)
            rows.comment(conn, star, post_id)
    batch = _drain(db_engine, redis_client)
    half = len(batch) // 2
    batch[half:half] = [
        Event(EventType.POST_LIKED, new_id(), post_id=new_id()),  # a post purged since
        Event(EventType.ACCOUNT_FOLLOWED, new_id(), data={"followee_id": "not-an-id"}),
        Event(EventType.POST_DELETED, new_id(), post_id=new_id()),
    ]
    assert size < 100 or len(batch) == MAX_CONSUMER_BATCH
    statements.clear()

    CountersHandler(db_engine, redis_client).handle(batch)

    # authors; lock + followers + following + posts + update; lock + likes + comments + update
    assert len([s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]) == 10
    with db_engine.connect() as conn:
        assert rows.account_counts(conn, [star])[star] == (size, 0, 0)
        assert set(rows.post_counts(conn, made).values()) == {(1, 1)}


def test_touched_by_reads_every_name_for_the_other_account() -> None:
    a, b, p = new_id(), new_id(), new_id()
    batch = [
        Event(EventType.ACCOUNT_BLOCKED, a, data={"blocked_id": b}),
        Event(EventType.ACCOUNT_FOLLOWED, a, data={"follower_id": b}),  # an accepted request: the followee acts
        Event(EventType.POST_VIEWED, a, post_id=p),
        Event(EventType.ACCOUNT_DELETED, b, data={"account_ids": [a, 7], "post_ids": [p]}),
        Event(EventType.ACCOUNT_UPDATED, new_id()),
    ]
    assert touched_by(batch) == Touched(frozenset({a, b}), frozenset({p}), frozenset(), frozenset({b}))
    assert not touched_by([Event(EventType.POST_VIEWED, a, post_id=p)])


def test_repair_fixes_what_drifted_and_nothing_else(
    db_engine: Engine, redis_client: redis.Redis, world: dict[str, str]
) -> None:
    CountersHandler(db_engine, redis_client).handle(_drain(db_engine, redis_client))
    w = world
    with db_engine.begin() as conn:
        conn.execute(sa.update(accounts).where(accounts.c.id == w["cid"]).values(following_count=42))
        conn.execute(sa.update(posts).where(posts.c.id == w["ready"]).values(like_count=-3))
        conn.execute(sa.delete(outbox))  # the events are gone: only the rows say what is right

    with db_engine.begin() as conn:
        report = repair_counters(conn)

    assert (report.accounts_checked, report.accounts_fixed, report.posts_checked, report.posts_fixed) == (4, 1, 3, 1)
    assert report.fixed_post_ids == (w["ready"],)
    with db_engine.connect() as conn:
        assert rows.account_counts(conn, [w["cid"]]) == {w["cid"]: (0, 1, 0)}
        assert rows.post_counts(conn, [w["ready"]]) == {w["ready"]: (2, 1)}
    with db_engine.begin() as conn:
        assert repair_counters(conn).accounts_fixed == 0


def test_repair_walks_more_than_one_chunk(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from darkroom.social import counters

    monkeypatch.setattr(counters, "CHUNK", 3)
    with db_engine.begin() as conn:
        made = [rows.account(conn, f"u{i}") for i in range(7)]
        for follower in made[1:]:
            rows.follow(conn, follower, made[0])
    with db_engine.begin() as conn:
        report = repair_counters(conn)
    assert (report.accounts_checked, report.accounts_fixed) == (7, 7)
    with db_engine.connect() as conn:
        assert rows.account_counts(conn, [made[0]])[made[0]] == (6, 0, 0)


def test_the_repair_command_fixes_and_clears_the_cache(
    database_url: str, db_engine: Engine, redis_client: redis.Redis, redis_url: str, world: dict[str, str]
) -> None:
    redis_client.set(keys.post_cache(world["ready"]), b"{}")
    result = CliRunner().invoke(
        app, ["social", "repair-counters", "--url", database_url, "--redis-url", redis_url, "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["accounts_fixed"], out["posts_fixed"], out["cache_cleared"]) == (3, 1, True)
    assert not _cached(redis_client, world["ready"])

    result = CliRunner().invoke(app, ["social", "repair-counters", "--url", database_url, "--redis-url", redis_url])
    assert result.exit_code == 0, result.output
    assert "fixed 0 of 4 accounts and 0 of 3 posts" in result.stdout


def test_the_repair_command_names_a_bad_url() -> None:
    result = CliRunner().invoke(app, ["social", "repair-counters", "--url", "mysql://x/y"])
    assert result.exit_code == 1
    assert "mysql://x/y" in result.output
