"""The social benchmark's machinery at a toy scale (``make bench-social`` runs it at full size): the
seeded world, its PostgreSQL data set (loaded, then found cached), feeds built in Redis that the
product's reader pages exactly as the SQL join does, and the open-loop generator against a small
keep-alive HTTP server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import redis
import sqlalchemy as sa

from bench.social import dataset, feeds
from bench.social.load import LoadSpec, run
from bench.social.world import Scale, generate
from darkroom.social import credentials, postcache
from darkroom.social.feed import FeedConfig, FeedDesign, pulled, read_feed, sources, sql_feed
from darkroom.social.ids import check_id, time_ms
from darkroom.storage.db import open_database
from darkroom.storage.schema import accounts, follows, post_media, posts
from tests.social.statements import statements

SCALE = Scale(accounts=300, follows=3000, posts=1500, seed=3)
CONFIG = FeedConfig(celebrity_followers=30)


def test_the_world_is_the_same_for_a_seed_and_shaped_as_asked() -> None:
    world, again = generate(SCALE), generate(SCALE)
    assert (world.account_ids == again.account_ids).all() and (world.followee == again.followee).all()
    assert (world.post_ids == again.post_ids).all() and world.token(7) == again.token(7)
    assert abs(len(world.follower) - SCALE.follows) < SCALE.follows * 0.01
    assert not (world.follower == world.followee).any()
    pairs = world.follower * SCALE.accounts + world.followee
    assert len(np.unique(pairs)) == len(pairs)
    assert world.in_degree.max() == SCALE.accounts - 1  # a power law's head: followed by everyone
    ids = [p.decode() for p in world.post_ids]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(check_id(i) and time_ms(i) == ms for i, ms in zip(ids[::50], world.post_ms[::50], strict=True))
    assert len({world.token(a) for a in range(SCALE.accounts)}) == SCALE.accounts
    assert len(world.active_accounts()) == 60 and (world.active_accounts(0.1) == world.active_accounts()[:30]).all()


@pytest.fixture
def loaded(postgres_databases: Callable[[], str]) -> Iterator[tuple[dataset.Dataset, sa.Engine]]:
    url = postgres_databases()  # dropped at the end of the session
    name = url.rsplit("/", 1)[1]
    found = dataset.ensure(SCALE, dataset.libpq_url(url, "postgres"), database=name)
    engine = open_database(found.url)
    yield found, engine
    engine.dispose()


def test_the_data_set_is_loaded_once_and_then_found_in_the_cache(
    loaded: tuple[dataset.Dataset, sa.Engine], postgres_databases: Callable[[], str]
) -> None:
    found, engine = loaded
    assert not found.cached and found.seconds["copy follows"] >= 0
    name = found.url.rsplit("/", 1)[1]
    again = dataset.ensure(SCALE, dataset.libpq_url(found.url, "postgres"), database=name)
    assert again.cached and again.seconds == found.seconds and again.loaded_at == found.loaded_at
    world = found.world
    with engine.connect() as conn:
        count = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in
                 (accounts, follows, posts, post_media)}  # fmt: skip
        top = int(np.argmax(world.in_degree))
        counter = conn.execute(sa.select(accounts.c.follower_count).where(accounts.c.id == world.id_of(top))).scalar()
        viewer = int(world.active_accounts()[0])
        who = credentials.identify(conn, world.token(viewer))
    assert count == {"accounts": 300, "follows": len(world.follower), "posts": 1500, "post_media": 1500}
    assert counter == SCALE.accounts - 1
    assert who is not None and who.viewer.account_id == world.id_of(viewer)


def test_the_feeds_built_read_as_the_sql_join_and_hydrate_with_media(
    loaded: tuple[dataset.Dataset, sa.Engine], redis_client: redis.Redis
) -> None:
    found, engine = loaded
    world = found.world
    viewers = world.active_accounts()[:5]
    feeds.build_author_posts(redis_client, world, CONFIG)
    for design in (FeedDesign.HYBRID, FeedDesign.PUSH):
        built = feeds.build_feeds(redis_client, world, viewers, design, CONFIG)
        assert built.feeds == 5 and built.entries > 0
        with engine.connect() as conn:
            for v in viewers:
                viewer = world.id_of(int(v))
                page = read_feed(conn, redis_client, viewer, cursor=None, limit=20, design=design, config=CONFIG)
                assert page.post_ids == sql_feed(conn, viewer, None, 20).post_ids
    with engine.connect() as conn:
        shown = postcache.hydrate(conn, redis_client, page.post_ids, None)
    assert len(shown) == 20 and all(p.media[0].renditions[0].url.startswith("/v1/media/cas/sha256/") for p in shown)


def test_the_hybrid_state_holds_each_viewers_pulled_set_as_sql_finds_it(
    loaded: tuple[dataset.Dataset, sa.Engine], redis_client: redis.Redis
) -> None:
    found, engine = loaded
    world = found.world
    viewers = world.active_accounts()[:5]
    feeds.build_feeds(redis_client, world, viewers, FeedDesign.HYBRID, CONFIG)
    above = CONFIG.celebrity_followers
    with engine.connect() as conn:
        for v in viewers:
            viewer = world.id_of(int(v))
            with statements(engine) as seen:
                cached = pulled.celebrities(conn, redis_client, viewer, above=above)
            assert seen == [] and cached == sorted(sources.celebrity_followees(conn, viewer, above=above))


def test_memory_grows_with_the_active_share(
    loaded: tuple[dataset.Dataset, sa.Engine], redis_client: redis.Redis
) -> None:
    found, _ = loaded
    points = feeds.measure_growth(redis_client, found.world, [0.05, 0.1, 0.2], CONFIG)
    assert [p.feeds for p in points] == [15, 30, 60]
    assert 0 < points[0].bytes_total < points[1].bytes_total < points[2].bytes_total


_BODY = b'{"items": []}'


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep-alive HTTP/1.1: every other answer chunked."""
    n = 0
    while True:
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            break
        n += 1
        if n % 2:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY))
        else:
            half = len(_BODY) // 2
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                         % (half, _BODY[:half], len(_BODY) - half, _BODY[half:]))  # fmt: skip
        await writer.drain()
    writer.close()


def test_the_generator_sends_at_the_rate_on_kept_alive_connections() -> None:
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(_answer, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        result = run(LoadSpec("127.0.0.1", port, 400, 0.5, [("/v1/feed", "t1"), ("/v1/feed", "t2")], warmup_s=0.1))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        server.close()
    assert result.sent == 200 and result.ok == 200 and result.statuses == {"200": 200} and result.timeouts == 0
    assert result.connections <= 16 and result.p99_ms < result.max_ms + 1e-9
    assert len(result.latencies_ms) == 200 and result.mean_bytes > len(_BODY)
