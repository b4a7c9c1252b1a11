"""Each health check, ok and failing, with the real cause provoked on a private redis-server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import redis

import darkroom.queue as dq
from darkroom.observability import CHECK_NAMES, Check, InvalidThreshold, Limit, RedisSampler, Status, Thresholds
from darkroom.observability import check_health as _check_health
from darkroom.observability.redis_sample import RedisSample
from tests.observability.conftest import Health, free_port, start_server, wait_until

# A Lua loop that keeps the server busy for a while (no DEBUG needed)
BUSY = "local i = 0 while i < tonumber(ARGV[1]) do i = i + 1 end return i"


def check_of(current: RedisSample, previous: RedisSample | None, name: str, t: Thresholds | None = None) -> Check:
    report = _check_health(current, previous, thresholds=t)
    return next(c for c in report.checks if c.name == name)


def check_now(sampler: RedisSampler, name: str, t: Thresholds | None = None) -> Check:
    """The check over two samples taken back to back (rates over what happened in between)."""
    first = sampler.sample()
    return check_of(sampler.sample(), first, name, t)


def wait_ok(sampler: RedisSampler, name: str, t: Thresholds | None = None) -> Check:
    """Poll (two samples a round, so rates see only that round) until the check is ok: a recovery.

    Polled rather than asserted once because a round trip on a busy test machine can stray above
    the latency warning for a moment; the cause itself is gone before this is called.
    """
    seen: list[Check] = []

    def ok() -> bool:
        seen.append(check_now(sampler, name, t))
        return seen[-1].status is Status.OK

    wait_until(ok, f"{name} to recover")
    return seen[-1]


def test_a_fresh_server_passes_every_check(health: Health) -> None:
    health.admin.latency_reset()
    sampler = health.sampler()
    # the round trip is the machine's (a busy test machine can take a few ms): the latency check's own
    # tests provoke it; here only the server's state is judged
    relaxed = replace(Thresholds(), latency_ms=Limit(1000, 2000, "ms"))
    report = _check_health(sampler.sample(), sampler.sample(), thresholds=relaxed)
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    assert report.status is Status.OK, [c for c in report.checks if c.status is not Status.OK]
    assert report.as_json()["status"] == "ok"
    assert set(report.as_json()["checks"][0]) == {"name", "status", "value", "threshold", "message"}  # type: ignore[index]


def test_thresholds_out_of_order_name_the_values() -> None:
    with pytest.raises(InvalidThreshold, match="warn 30 must be at most critical 20"):
        Limit(30, 20, "ms")
    with pytest.raises(InvalidThreshold, match=r"warn 0\.4 must be at least critical 0\.5"):
        Limit(0.4, 0.5, "ratio", below=True)


# -- latency and the slow log -------------------------------------------------------------------------
def test_a_stall_is_a_latency_spike_and_a_slow_command(health: Health) -> None:
    health.admin.latency_reset()
    sampler = health.sampler()
    first = sampler.sample()
    health.admin.execute_command("DEBUG", "SLEEP", "0.05")
    second = sampler.sample()
    latency = check_of(second, first, "latency")
    assert latency.status is Status.CRITICAL and latency.value is not None and latency.value >= 50
    assert "(command)" in latency.message and "slow commands: debug" in latency.message
    slow = check_of(second, first, "slowlog")
    assert slow.status is Status.CRITICAL and "debug" in slow.message
    # handled: the recorded spike and slow entry are cleared, so both checks are ok again
    health.admin.latency_reset()
    health.admin.slowlog_reset()
    assert "no slow commands" in wait_ok(sampler, "slowlog").message
    assert "latest spike" not in wait_ok(sampler, "latency").message


def test_a_stall_out_of_the_window_is_ok_again(health: Health) -> None:
    """Without a reset, a spike and a slow entry stop counting once older than the window."""
    health.admin.latency_reset()
    t = Thresholds(window_s=1)
    sampler = health.sampler()
    first = sampler.sample()
    health.admin.execute_command("DEBUG", "SLEEP", "0.05")
    second = sampler.sample()
    assert check_of(second, first, "latency", t).status is Status.CRITICAL
    assert check_of(second, first, "slowlog", t).status is Status.CRITICAL
    spike_s = second.server_time_s
    # the server's clock (whole seconds) moves past the window; the entries are still recorded
    wait_until(lambda: sampler.sample().server_time_s > spike_s + 1, "the window to pass")
    assert wait_ok(sampler, "slowlog", t).message.startswith("no slow commands in 1 s (1 logged)")
    assert "latest spike" not in wait_ok(sampler, "latency", t).message


def test_a_spike_during_an_aof_rewrite_is_put_down_to_the_fork(health: Health) -> None:
    health.admin.latency_reset()
    sampler = health.sampler()
    first = sampler.sample()
    health.admin.bgrewriteaof()
    health.admin.execute_command("DEBUG", "SLEEP", "0.03")
    wait_until(lambda: not health.info("persistence")["aof_rewrite_in_progress"], "the rewrite to end")
    latency = check_of(sampler.sample(), first, "latency")
    assert latency.status is Status.CRITICAL
    assert "likely a fork" in latency.message and "AOF rewrite" in latency.message


def test_slow_commands_below_the_warning_are_ok(health: Health) -> None:
    health.admin.config_set("slowlog-log-slower-than", 0)  # log everything: all fast
    health.admin.set("k", "v")
    slow = check_now(health.sampler(), "slowlog")
    assert slow.status is Status.OK and "slow commands in 300 s" in slow.message


# -- cpu ------------------------------------------------------------------------------------------------
def test_a_busy_server_fails_the_cpu_check_and_names_where_the_time_went(health: Health) -> None:
    sampler = health.sampler()
    seen: list[Check] = []
    # lower limits than the default 0.6 / 0.9 cores: on a machine whose other processes take the
    # cores (the suite's other worker, a build), the busy script gets a share of one, not all of it
    limits = Thresholds(cpu=Limit(0.2, 0.3, "cores"))

    def busy_interval() -> bool:
        first = sampler.sample()
        health.admin.eval(BUSY, 0, 5_000_000)
        seen.append(check_of(sampler.sample(), first, "cpu", limits))
        return seen[-1].status is not Status.OK

    wait_until(busy_interval, "a sample interval the script kept busy")
    assert "time went to eval" in seen[-1].message


# -- memory, fragmentation -------------------------------------------------------------------------
def _fill(client: redis.Redis, keys: int, size: int = 100, prefix: str = "fill") -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(keys):
        pipe.set(f"{prefix}:{i}", "x" * size)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def test_memory_near_maxmemory_is_critical_and_says_writes_will_fail(health: Health) -> None:
    _fill(health.admin, 20_000)
    sampler = health.sampler()
    ok = check_now(sampler, "memory")
    assert ok.status is Status.OK and "system memory" in ok.message
    used = int(health.info("memory")["used_memory"])  # type: ignore[call-overload]
    health.admin.config_set("maxmemory", int(used * 1.05))
    sampler.config_every_s = 0  # read the new maxmemory now
    bad = check_now(sampler, "memory")
    assert bad.status is Status.CRITICAL and "maxmemory" in bad.message
    assert "writes will fail with OOM" in bad.message


def test_fragmentation_after_mass_deletes(health: Health) -> None:
    t = Thresholds(fragmentation_min_rss_bytes=16 * 1024 * 1024)
    sampler = health.sampler()
    assert check_now(sampler, "fragmentation").status is Status.OK  # too small to judge by default
    _fill(health.admin, 200_000)
    assert check_now(sampler, "fragmentation", t).status is Status.OK
    pipe = health.admin.pipeline(transaction=False)
    for i in range(200_000):
        if i % 10:
            pipe.delete(f"fill:{i}")
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    frag = check_now(sampler, "fragmentation", t)
    assert frag.status is Status.CRITICAL and "allocator fragmentation" in frag.message


# -- hit rate, evictions ----------------------------------------------------------------------------
def test_reads_that_miss_fail_the_hit_rate(health: Health) -> None:
    health.admin.set("present", "1")
    sampler = health.sampler()
    first = sampler.sample()
    pipe = health.admin.pipeline(transaction=False)
    for _ in range(1000):
        pipe.get("present")
    pipe.execute()
    second = sampler.sample()
    assert check_of(second, first, "hit_rate").status is Status.OK
    for _ in range(1000):
        pipe.get("absent")
    pipe.execute()
    bad = check_of(sampler.sample(), second, "hit_rate")
    assert bad.status is Status.CRITICAL and bad.value == 0.0
    assert "never written" in bad.message


def test_the_platforms_idle_queue_polls_miss_but_are_not_judged_a_bad_hit_rate(health: Health) -> None:
    """An empty state set is no key, so polling an idle queue misses; on a Redis that holds
    Darkroom's queues the ratio is reported, not judged (a false critical on every idle platform)."""
    queue = dq.RedisQueue(health.client())
    queue.create_queue("encode")
    sampler = health.sampler()
    first = sampler.sample()
    for _ in range(500):
        assert queue.dequeue("encode") == []
    check = check_of(sampler.sample(), first, "hit_rate")
    assert check.value is not None and check.value < 0.5
    assert check.status is Status.OK and "not judged: this Redis holds 1 Darkroom queue(s)" in check.message
    queue.close()


def test_evictions_under_allkeys_are_data_loss(health: Health) -> None:
    health.admin.config_set("maxmemory", 2 * 1024 * 1024)
    health.admin.config_set("maxmemory-policy", "allkeys-lru")
    sampler = health.sampler()
    risk = check_now(sampler, "evictions")
    assert risk.status is Status.WARN and "would evict queue keys" in risk.message
    first = sampler.sample()
    _fill(health.admin, 20_000)
    bad = check_of(sampler.sample(), first, "evictions")
    assert bad.status is Status.CRITICAL and bad.value is not None and bad.value > 0
    assert "data loss" in bad.message
    # the counter stops moving: no longer data loss now, but the policy still would evict queue keys
    assert check_now(sampler, "evictions").status is Status.WARN
    health.admin.config_set("maxmemory-policy", "noeviction")
    sampler.config_every_s = 0  # read the new policy now
    assert wait_ok(sampler, "evictions").message == "none (maxmemory-policy noeviction)"


def test_evictions_under_volatile_lose_caches_and_rate_limits(health: Health) -> None:
    health.admin.config_set("maxmemory", 2 * 1024 * 1024)
    health.admin.config_set("maxmemory-policy", "volatile-lru")
    sampler = health.sampler()
    first = sampler.sample()
    pipe = health.admin.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"cache:{i}", "x" * 100, ex=3600)
    pipe.execute(raise_on_error=False)
    bad = check_of(sampler.sample(), first, "evictions")
    assert bad.status is Status.WARN and "rate-limit quotas" in bad.message
    health.admin.config_set("maxmemory", 0)  # room again: the writes stop evicting
    health.admin.set("after", "x" * 100, ex=3600)
    assert wait_ok(sampler, "evictions").value == 0


# -- clients ---------------------------------------------------------------------------------------
def test_clients_near_maxclients_are_critical_and_named(health: Health) -> None:
    health.admin.config_set("maxclients", 10)
    holders = [health.client("darkroom:worker") for _ in range(8)]
    for c in holders:
        c.ping()
    sampler = health.sampler()
    bad = check_now(sampler, "clients")  # 8 + admin + the sampler = 10 of 10
    assert bad.status is Status.CRITICAL and "darkroom:worker 8" in bad.message


def test_refused_connections_are_critical_then_a_warning(health: Health) -> None:
    sampler = health.sampler()
    first = sampler.sample()
    connected = int(health.info("clients")["connected_clients"])  # type: ignore[call-overload]
    health.admin.config_set("maxclients", connected)
    refused = health.client()
    with pytest.raises(redis.ConnectionError):  # "max number of clients reached", or the closed socket
        refused.ping()
    second = sampler.sample()
    bad = check_of(second, first, "rejected_connections")
    assert bad.status is Status.CRITICAL and bad.value == 1
    later = check_of(sampler.sample(), second, "rejected_connections")
    assert later.status is Status.WARN and "since start" in later.message
    # handled: maxclients raised, a new connection is accepted, and the count is cleared
    health.admin.config_set("maxclients", connected + 10)
    assert health.client().ping()
    assert check_now(sampler, "rejected_connections").status is Status.WARN  # none new: not critical
    health.admin.config_resetstat()
    assert wait_ok(sampler, "rejected_connections").message == "none refused"


@contextmanager
def _blocked(health: Health, n: int, name: str | None) -> Iterator[None]:
    """``n`` clients waiting in BLPOP, released at the end by a push per client."""
    clients = [health.client(name) for _ in range(n)]
    threads = [threading.Thread(target=c.blpop, args=(["wake"], 0)) for c in clients]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: health.info("clients")["blocked_clients"] == n, f"{n} blocked clients")
        yield
    finally:
        health.admin.lpush("wake", *range(n))
        for t in threads:
            t.join()


def test_blocked_clients_that_are_not_darkroom_warn(health: Health) -> None:
    sampler = health.sampler()
    with _blocked(health, 10, "[red]other"):
        bad = check_now(sampler, "blocked_clients")
    assert bad.status is Status.WARN and bad.value == 10
    assert "blpop 10" in bad.message and "[red]other 10" in bad.message
    # released (a push per client, joined): none blocked
    assert wait_ok(sampler, "blocked_clients").message == "none blocked"


def test_darkroom_long_polls_are_expected_blocked_clients(health: Health) -> None:
    sampler = health.sampler()
    with _blocked(health, 10, "darkroom:social"):
        ok = check_now(sampler, "blocked_clients")
    assert ok.status is Status.OK and "10 of them Darkroom's own long polls" in ok.message


# -- replication ----------------------------------------------------------------------------------
def test_a_replica_with_its_master_up_then_gone(tmp_path: Path) -> None:
    port = free_port()
    master = start_server(tmp_path / "master", tcp_port=port)
    replica = start_server(tmp_path / "replica", f"masterauth {master.password}")
    try:
        to_replica = redis.Redis.from_url(replica.url)
        to_replica.replicaof("127.0.0.1", port)
        wait_until(lambda: to_replica.info("replication")["master_link_status"] == "up", "the link to come up")
        on_master = RedisSampler.from_url(master.url)
        on_replica = RedisSampler.from_url(replica.url)
        ok = wait_ok(on_master, "replication")  # the master may still list the replica as syncing a moment
        assert "1 replica(s)" in ok.message
        assert check_now(on_replica, "replication").status is Status.OK
        master.stop()
        wait_until(lambda: to_replica.info("replication")["master_link_status"] == "down", "the link to drop")
        down = check_now(on_replica, "replication")
        assert down.status is Status.CRITICAL and "link to its master is down" in down.message
        master.start()  # the same port, password and data
        wait_until(lambda: to_replica.info("replication")["master_link_status"] == "up", "the link to return")
        back = wait_ok(on_replica, "replication")
        assert back.message.startswith("replica: last heard from its master")
        on_master.close()
        on_replica.close()
        to_replica.close()
    finally:
        replica.stop()
        master.stop()


def test_too_few_replicas_is_critical(health: Health) -> None:
    t = replace(Thresholds(), min_replicas=1)
    bad = check_now(health.sampler(), "replication", t)
    assert bad.status is Status.CRITICAL and "0 replicas connected, 1 expected" in bad.message


# -- persistence ----------------------------------------------------------------------------------
def test_no_persistence_warns(health: Health) -> None:
    health.admin.config_set("appendonly", "no")
    health.admin.config_set("save", "")
    bad = check_now(health.sampler(), "persistence")
    assert bad.status is Status.WARN and "a restart loses every queue" in bad.message


def test_a_failed_bgsave_is_critical(health: Health, tmp_path: Path) -> None:
    health.admin.config_set("appendonly", "no")
    health.admin.config_set("save", "3600 1")
    sampler = health.sampler()
    health.admin.bgsave()
    wait_until(lambda: not health.info("persistence")["rdb_bgsave_in_progress"], "the BGSAVE to end")
    sampler.config_every_s = 0
    ok = check_now(sampler, "persistence")
    assert ok.status is Status.OK and ok.message.startswith("RDB")
    gone = tmp_path / "gone"
    gone.mkdir()
    health.admin.config_set("dir", str(gone))
    gone.rmdir()  # the snapshot has nowhere to go
    health.admin.bgsave()
    wait_until(lambda: health.info("persistence")["rdb_last_bgsave_status"] == "err", "the BGSAVE to fail")
    bad = check_now(sampler, "persistence")
    assert bad.status is Status.CRITICAL and "last BGSAVE failed" in bad.message
    assert "server log" in bad.message
    # the directory is back and writable (set again: Redis's working directory was the removed one),
    # so the next BGSAVE succeeds and the check is ok again
    gone.mkdir()
    health.admin.config_set("dir", str(gone))
    health.admin.bgsave()
    wait_until(lambda: health.info("persistence")["rdb_last_bgsave_status"] == "ok", "the BGSAVE to succeed")
    back = wait_ok(sampler, "persistence")
    assert back.message.startswith("RDB") and "failed" not in back.message
