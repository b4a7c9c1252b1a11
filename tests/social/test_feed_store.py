"""The feed scripts on a real Redis: pushes land only in feeds that exist, trims keep 800 and the
marker, and every script is all or nothing at the largest call it accepts (a key of the wrong type
or a bad id in the middle: nothing written). On a one-node Redis Cluster the same code splits its
calls by hash slot."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from darkroom.social import keys
from darkroom.social.errors import InvalidInput
from darkroom.social.feed import FeedConfig, FeedStore
from darkroom.social.feed.config import MAX_KEYS_PER_CALL, MAX_POSTS_PER_CALL
from darkroom.social.ids import new_id


def _built(client: redis.Redis | RedisCluster, owners: list[str]) -> None:
    """Empty built feeds (the marker only), as a rebuild leaves them, in one round trip per 5,000."""
    for i in range(0, len(owners), 5000):
        pipe = client.pipeline(transaction=False)
        for owner in owners[i : i + 5000]:
            pipe.zadd(keys.feed(owner), {keys.FEED_BUILT: 0})
        pipe.execute()


def _holders(client: redis.Redis | RedisCluster, owners: list[str], post_id: str) -> int:
    pipe = client.pipeline(transaction=False)
    for owner in owners:
        pipe.zscore(keys.feed(owner), post_id)
    return sum(score is not None for score in pipe.execute())


def _members(client: redis.Redis | RedisCluster, key: str) -> list[str]:
    return [m.decode() for m in client.zrange(key, 0, -1)]


def test_push_lands_only_in_existing_feeds(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client)
    active, inactive = [new_id() for _ in range(3)], [new_id() for _ in range(2)]
    _built(redis_client, active)
    post = new_id()
    assert store.push(post, active + inactive) == 3
    assert store.push(post, active + inactive) == 3  # a replay changes nothing
    assert _holders(redis_client, active, post) == 3
    assert not any(redis_client.exists(keys.feed(o)) for o in inactive)
    assert _members(redis_client, keys.feed(active[0])) == [post, keys.FEED_BUILT]


def test_the_801st_push_trims_the_oldest(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client)
    owner = new_id()
    posts = [new_id() for _ in range(801)]
    store.build(owner, posts[:800])
    assert redis_client.zcard(keys.feed(owner)) == 801  # 800 posts + the marker
    assert store.push(posts[800], [owner]) == 1
    members = _members(redis_client, keys.feed(owner))
    assert members == [*posts[1:], keys.FEED_BUILT]
    assert store.oldest(owner) == posts[1]


def test_push_at_the_largest_call_with_a_wrong_type_key_in_the_middle_writes_nothing(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client, config=FeedConfig(batch_keys=MAX_KEYS_PER_CALL))
    owners = [new_id() for _ in range(MAX_KEYS_PER_CALL)]
    _built(redis_client, owners)
    broken = owners[MAX_KEYS_PER_CALL // 2]
    redis_client.delete(keys.feed(broken))
    redis_client.set(keys.feed(broken), "not a feed")
    post = new_id()
    with pytest.raises(redis.ResponseError, match=f"feed key social:{{a:{broken}}}:feed holds a string"):
        store.push(post, owners)
    assert _holders(redis_client, [o for o in owners if o != broken], post) == 0
    redis_client.delete(keys.feed(broken))
    assert store.push(post, owners) == MAX_KEYS_PER_CALL - 1


def test_calls_are_atomic_one_batch_at_a_time(redis_client: redis.Redis) -> None:
    """With batches of 10, a broken key in the second batch leaves the first one written: each
    call is all or nothing, a fan-out is a sequence of calls (and a replay completes it)."""
    store = FeedStore(redis_client, config=FeedConfig(batch_keys=10))
    owners = [new_id() for _ in range(25)]
    _built(redis_client, owners)
    redis_client.delete(keys.feed(owners[15]))
    redis_client.hset(keys.feed(owners[15]), "x", "y")
    post = new_id()
    with pytest.raises(redis.ResponseError, match="holds a hash"):
        store.push(post, owners)
    assert _holders(redis_client, owners[:10], post) == 10
    assert _holders(redis_client, owners[10:15] + owners[16:], post) == 0


def test_a_bad_post_id_is_refused_before_anything_is_written(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client)
    owner = new_id()
    store.build(owner, [])
    for bad in (keys.FEED_BUILT, "", "not-an-id"):
        with pytest.raises(InvalidInput, match="post_id") as caught:
            store.push(bad, [owner])
        assert caught.value.field == "post_id"
    posts = [new_id() for _ in range(MAX_POSTS_PER_CALL)]
    posts[5000] = keys.FEED_BUILT
    with pytest.raises(InvalidInput, match="'~'"):
        store.add(owner, posts)
    with pytest.raises(InvalidInput, match="'~'"):
        store.remove(owner, posts)
    with pytest.raises(InvalidInput, match="'~'"):
        store.build(owner, posts[4500:5300])
    assert _members(redis_client, keys.feed(owner)) == [keys.FEED_BUILT]


def test_unpush_at_the_largest_call(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client, config=FeedConfig(batch_keys=MAX_KEYS_PER_CALL))
    owners = [new_id() for _ in range(MAX_KEYS_PER_CALL)]
    _built(redis_client, owners)
    post = new_id()
    store.push(post, owners)
    redis_client.delete(keys.feed(owners[7000]))
    redis_client.rpush(keys.feed(owners[7000]), post)
    with pytest.raises(redis.ResponseError, match="holds a list"):
        store.unpush(post, owners)
    assert _holders(redis_client, owners[:7000] + owners[7001:], post) == MAX_KEYS_PER_CALL - 1
    redis_client.delete(keys.feed(owners[7000]))
    assert store.unpush(post, owners) == MAX_KEYS_PER_CALL - 1
    assert _holders(redis_client, owners, post) == 0


def test_remove_and_add_many_posts_in_one_feed(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client, config=FeedConfig(feed_cap=MAX_POSTS_PER_CALL))
    owner, missing = new_id(), new_id()
    posts = [new_id() for _ in range(MAX_POSTS_PER_CALL)]
    store.build(owner, [])
    assert store.add(owner, posts) == MAX_POSTS_PER_CALL
    assert store.add(missing, posts) == 0  # a feed that does not exist is not created
    assert not redis_client.exists(keys.feed(missing))
    assert store.remove(owner, posts[::2]) == MAX_POSTS_PER_CALL // 2
    assert _members(redis_client, keys.feed(owner)) == [*posts[1::2], keys.FEED_BUILT]


def test_add_keeps_the_newest_up_to_the_cap(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client, config=FeedConfig(feed_cap=5))
    owner = new_id()
    posts = [new_id() for _ in range(9)]
    store.build(owner, posts[:3])
    store.add(owner, posts[3:])
    assert _members(redis_client, keys.feed(owner)) == [*posts[4:], keys.FEED_BUILT]


def test_build_replaces_the_feed_with_its_newest_posts_and_an_expiry(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client, config=FeedConfig(active_window_s=86400))
    owner = new_id()
    stale = new_id()
    store.build(owner, [stale])
    posts = [new_id() for _ in range(801)]
    store.build(owner, posts)  # more than the cap: the newest 800 are kept
    assert _members(redis_client, keys.feed(owner)) == [*posts[1:], keys.FEED_BUILT]
    assert 86_000_000 < redis_client.pttl(keys.feed(owner)) <= 86_400_000


def test_build_on_a_wrong_type_key_changes_nothing(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client)
    owner = new_id()
    redis_client.set(keys.feed(owner), "kept")
    with pytest.raises(redis.ResponseError, match="holds a string"):
        store.build(owner, [new_id() for _ in range(800)])
    assert redis_client.get(keys.feed(owner)) == b"kept"


def test_author_posts_are_recorded_always_and_capped(redis_client: redis.Redis) -> None:
    store = FeedStore(redis_client, config=FeedConfig(author_posts_cap=3))
    author = new_id()
    posts = [new_id() for _ in range(5)]
    for p in posts:
        store.record(author, p)  # no marker yet: 3 posts kept
    assert _members(redis_client, keys.author_posts(author)) == posts[2:]
    store.build_author_posts(author, posts)
    assert _members(redis_client, keys.author_posts(author)) == [*posts[2:], keys.FEED_BUILT]
    assert redis_client.pttl(keys.author_posts(author)) == -1  # no expiry
    store.forget(author, posts[4])
    assert _members(redis_client, keys.author_posts(author)) == [*posts[2:4], keys.FEED_BUILT]


# -- Redis Cluster ---------------------------------------------------------------------------------
def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 <= 65535:
            return port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A one-node Redis Cluster owning every slot: it refuses a script whose keys span slots, as a
    many-node cluster does."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    root = Path(tmp_path_factory.mktemp("feed-cluster"))
    port = _free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
    args += ["--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no", "--dir", str(root)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = redis.Redis(port=port)
    try:
        _until(lambda: _pings(node), "the cluster node did not start")
        node.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        _until(lambda: node.cluster("info")["cluster_state"] == "ok", "the cluster is not ok")
        client = RedisCluster(host="127.0.0.1", port=port)
        yield client
        client.close()
    finally:
        node.close()
        proc.terminate()
        proc.wait(10)


def _pings(node: redis.Redis) -> bool:
    try:
        return bool(node.ping())
    except redis.ConnectionError:
        return False


def _until(check: object, what: str, timeout_s: float = 20.0) -> None:
    """Readiness probe of a child process (not test synchronisation)."""
    give_up = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > give_up:
            raise TimeoutError(what)
        time.sleep(0.02)


def test_on_a_cluster_calls_are_split_by_hash_slot(cluster: RedisCluster) -> None:
    store = FeedStore(cluster)
    owners = [new_id() for _ in range(300)]
    for owner in owners:
        store.build(owner, [])
    script = cluster.register_script("return #KEYS")
    with pytest.raises(redis.RedisClusterException, match="slot"):
        script(keys=[keys.feed(o) for o in owners[:50]])  # what one call of all keys would do
    post = new_id()
    assert store.push(post, owners) == 300
    assert _holders(cluster, owners, post) == 300
    assert store.unpush(post, owners) == 300
    assert _holders(cluster, owners, post) == 0
