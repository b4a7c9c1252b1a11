"""The sampler against a real redis-server: every source read, Darkroom's keys, rates on deltas."""

from __future__ import annotations

import fnmatch
import socket
import threading

import pytest

import darkroom.queue as dq
from darkroom.api.ratelimit import Quota, Rate, RateLimiter
from darkroom.config import Settings
from darkroom.observability import (
    HEALTH_CLIENT_NAME,
    InvalidKeyPattern,
    KeyFamily,
    RedisSampler,
    RedisUnreachable,
    rates,
)
from darkroom.platform.health import HTTP_REDIS_PREFIX, key_layout
from darkroom.platform.wiring import Wiring
from darkroom.social import keys as social_keys
from darkroom.web.app import REDIS_PREFIX
from tests.observability.conftest import Health


def test_one_sample_reads_info_config_latency_slowlog_memory_and_round_trips(health: Health) -> None:
    health.admin.set("k", "v")
    sample = health.sampler().sample()
    assert sample.info.version.startswith(("6.", "7.", "8."))
    assert sample.info.memory.used_bytes > 0 and sample.info.memory.total_system_bytes > 0
    assert sample.info.clients.connected >= 2  # the admin client and the sampler's own
    assert sample.info.keyspace[0].keys == 1
    assert "get" in sample.info.commands or "set" in sample.info.commands
    assert "set" in sample.info.latency_percentiles_us and "p99" in sample.info.latency_percentiles_us["set"]
    assert sample.config.maxclients == 10000 and sample.config.maxmemory_policy == "noeviction"
    assert sample.config.appendonly and sample.config.latency_monitor_threshold_ms == 5
    assert sample.memory_stats["dataset.bytes"] > 0
    assert len(sample.round_trip.samples_ms) == 5 and sample.round_trip.p99_ms >= sample.round_trip.p50_ms
    assert sample.clients is None  # nobody blocked, far from maxclients: CLIENT LIST is not read


def test_darkroom_keys_queue_depth_streams_and_key_families(health: Health) -> None:
    queue = dq.RedisQueue(health.client())
    queue.create_queue("encode")
    queue.enqueue("encode", b"a")
    queue.enqueue("encode", b"b")
    queue.dequeue("encode")
    for account in ("a1", "a2", "a3"):
        health.admin.zadd(social_keys.feed(account), {"p1": 0})
    RateLimiter(health.admin, prefix=REDIS_PREFIX).hit([Quota("ip", "10.0.0.1", Rate(10, 60))])
    for n in range(3):
        health.admin.xadd(social_keys.EVENTS, {"n": n})
    health.admin.xgroup_create(social_keys.EVENTS, "fanout", id="0")
    health.admin.xreadgroup("fanout", "c1", {social_keys.EVENTS: ">"}, count=1)

    ks = health.sampler().sample().keyspace
    assert ks is not None and ks.queues == ("encode",)
    assert ks.depth("encode", "pending") == 1 and ks.depth("encode", "running") == 1
    (stream,) = ks.streams
    assert stream.stream == social_keys.EVENTS and stream.length == 3
    (group,) = stream.groups
    assert (group.name, group.consumers, group.pending, group.lag) == ("fanout", 1, 1, 2)
    counts = {c.family: (c.keys, c.complete) for c in ks.counts}
    assert counts == {"feeds": (3, True), "rate_limits": (1, True)}
    queue.close()


def test_the_layout_names_the_keys_the_product_writes() -> None:
    layout = key_layout(Settings())
    patterns = {f.name: f.pattern for f in layout.families}
    assert fnmatch.fnmatchcase(social_keys.feed("01HX"), patterns["feeds"])
    assert HTTP_REDIS_PREFIX == REDIS_PREFIX
    assert patterns["rate_limits"] == f"{REDIS_PREFIX}:{{rl}}:*"
    assert layout.streams == (social_keys.EVENTS,)


def test_a_census_stops_at_its_budget_and_says_it_is_a_lower_bound(health: Health) -> None:
    pipe = health.admin.pipeline(transaction=False)
    for i in range(5000):
        pipe.zadd(social_keys.feed(f"acc{i}"), {"p": 0})
    pipe.execute()
    sampler = health.sampler(census_max_steps=1)
    ks = sampler.sample().keyspace
    assert ks is not None
    feeds = next(c for c in ks.counts if c.family == "feeds")
    assert not feeds.complete and 0 < feeds.keys < 5000


def test_a_key_family_must_start_with_a_literal_prefix() -> None:
    with pytest.raises(InvalidKeyPattern, match=r"'\*:feed'"):
        KeyFamily("feeds", "*:feed")


def test_rates_are_deltas_and_leave_out_the_samplers_own_lookups(health: Health) -> None:
    health.admin.set("present", "1")
    sampler = health.sampler()
    first = sampler.sample()
    pipe = health.admin.pipeline(transaction=False)
    for _ in range(200):
        pipe.get("present")
    for _ in range(100):
        pipe.get("absent")
    pipe.execute()
    r = rates(sampler.sample(), first)
    assert not r.since_start
    assert (r.lookups, r.hit_rate) == (300, pytest.approx(2 / 3))
    get = next(c for c in r.commands if c.command == "get")
    assert get.calls == 300 and get.calls_per_s > 0
    assert r.evicted == 0 and r.rejected == 0


def test_rates_without_a_previous_sample_are_averages_since_start(health: Health) -> None:
    r = rates(health.sampler().sample())
    assert r.since_start and r.interval_s >= 1


def test_connections_are_named_by_role(health: Health) -> None:
    wiring = Wiring(Settings(redis_url=health.url), role="worker")
    wiring.queue.redis.ping()
    wiring.redis.ping()
    sampler = health.sampler()
    sampler.sample()
    names = [line.get("name") for line in health.admin.client_list()]
    assert names.count("darkroom:worker") == 2 and HEALTH_CLIENT_NAME in names
    wiring.close()


def test_an_unreachable_redis_is_one_typed_error_without_the_password(health: Health) -> None:
    url = health.url
    health.server.stop()
    sampler = RedisSampler.from_url(url)
    with pytest.raises(RedisUnreachable, match="unreachable") as caught:
        sampler.sample()
    assert health.server.password not in str(caught.value)
    assert isinstance(caught.value, ConnectionError)
    sampler.close()


def test_a_server_that_cannot_be_read_as_redis_is_one_typed_error(health: Health) -> None:
    """Not Redis on the port (an HTTP server's answer), or a database index the server does not
    have: the same typed error as an unreachable one, naming the URL, not a protocol error."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def answer_http() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")

        server = threading.Thread(target=answer_http)
        server.start()
        sampler = RedisSampler.from_url(f"redis://127.0.0.1:{port}")
        with pytest.raises(RedisUnreachable, match=rf"Redis at redis://127\.0\.0\.1:{port} cannot be read: .*"):
            sampler.sample()
        sampler.close()
        server.join()
    wrong_db = RedisSampler.from_url(f"{health.url}&db=99")
    with pytest.raises(RedisUnreachable, match="cannot be read: DB index is out of range") as caught:
        wrong_db.sample()
    assert health.server.password not in str(caught.value)
    wrong_db.close()
