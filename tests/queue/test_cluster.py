"""The queue on a real Redis Cluster (three masters on free loopback ports): every script of one
queue runs on the node that owns the queue's slot, though KEYS names only the queue's prefix,
because every key it touches shares the hash tag ``{queue}``. ``dequeue_any`` over queues in
different slots is refused by the cluster, as docs/queue.md says; over one queue it works.
"""

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
from redis.crc import key_slot

import darkroom.queue as dq
from darkroom.queue.keys import Keys
from darkroom.queue.multi import Source
from darkroom.runtime.directory import WorkerDirectory, WorkerInfo
from darkroom.runtime.workflow.inbox import Inbox, Report

KEYS = Keys()


def _free_ports(n: int) -> list[int]:
    """``n`` ports free on loopback, each with its cluster bus port (+10000) free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


def _until(check: object, what: str, timeout_s: float = 20.0) -> None:
    """Readiness probe of child processes (not test synchronisation)."""
    give_up = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > give_up:
            raise TimeoutError(what)
        time.sleep(0.02)


@pytest.fixture(scope="module")
def cluster_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A port of the cluster (each test connects on its own: a queue client closes its Redis)."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are needed for a cluster")
    root = Path(tmp_path_factory.mktemp("cluster"))
    ports = _free_ports(3)
    procs = []
    for port in ports:
        node = root / str(port)
        node.mkdir()
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
        args += ["--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no", "--dir", str(node)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    nodes = [redis.Redis(port=p) for p in ports]
    try:

        def up() -> bool:
            try:
                return all(n.ping() for n in nodes)
            except redis.ConnectionError:
                return False

        _until(up, "the cluster's nodes did not start")
        create = ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        _until(lambda: all(n.cluster("info")["cluster_state"] == "ok" for n in nodes), "the cluster is not ok")
        yield ports[0]
    finally:
        for n in nodes:
            n.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def _owner(cluster: RedisCluster, key: str) -> int:
    return int(cluster.get_node_from_key(key).port)


def _queues_on_distinct_nodes(cluster: RedisCluster) -> list[str]:
    """Queue names whose slots three different masters own."""
    by_node: dict[int, str] = {}
    for i in range(1000):
        name = f"q{i}"
        by_node.setdefault(_owner(cluster, KEYS.prefix(name)), name)
        if len(by_node) == 3:
            return sorted(by_node.values())
    raise AssertionError("no three queues on three nodes")


@pytest.fixture
def cluster(cluster_port: int) -> Iterator[RedisCluster]:
    client = RedisCluster(host="127.0.0.1", port=cluster_port)
    client.flushall()
    yield client
    client.close()


def test_every_script_runs_on_the_queues_node(cluster: RedisCluster) -> None:
    q = dq.RedisQueue(cluster)
    names = _queues_on_distinct_nodes(cluster)
    for name in names:
        q.create_queue(name, exclusivity_key="asset", indexed_keys=["codec"], retention_s=0)
        q.update_queue(name, max_attempts=2)
        meta = [{"asset": f"a{i % 3}", "codec": f"c{i % 2}"} for i in range(6)]
        ids = q.enqueue_many(name, [dq.NewMessage(b"p", deadline=1_000 + i, metadata=m) for i, m in enumerate(meta)])
        q.update(name, ids[5], deadline=10, metadata={"asset": "a5", "codec": "c0"})
        q.cancel(name, ids[4])
        leases = q.dequeue(name, max_messages=2, where={"codec": "c0"})
        q.extend(leases[0], lease_s=10)
        q.complete(leases[0])
        q.fail(leases[1], "no", retry=False)
        q.redrive(name, leases[1].message.id)
        q.query(name, where={"codec": "c0"})
        handoff = q.enqueue_lease(name, [dq.NewMessage(b"n", metadata={"asset": "a7", "codec": "c1"})], max_messages=1)
        q.complete_many(handoff.leases)
        # one queue under several filters: one slot, so dequeue_any works on a cluster too
        both = q.dequeue_any([Source(name, where={"codec": "c0"}), Source(name, where={"codec": "c1"})], max_messages=9)
        assert both and all(lease.queue == name for lease in both)
        q.sweep(name)
        assert q.dequeue(name, wait_s=0.01) == []
        # every key of the queue is in its slot, on its node
        slot = key_slot(KEYS.prefix(name).encode())
        keys = {k.decode() for k in cluster.scan_iter(match=f"dr:{{{name}}}:*")}
        assert len(keys) > 10 and {key_slot(k.encode()) for k in keys} == {slot}
    assert {i.name for i in q.list_queues()} == set(names)
    with pytest.raises(redis.ResponseError, match="key"):
        q.dequeue_any([Source(n) for n in names])
    for name in names:
        assert q.delete_queue(name) is True
    assert [k for k in cluster.scan_iter() if k != KEYS.registry.encode()] == []
    q.close()


def test_the_runtimes_scripts_run_on_a_cluster(cluster: RedisCluster) -> None:
    """The inbox's and the directory's scripts, one call at a time (redis-py's cluster pipeline
    refuses EVALSHA, which the inbox pipelines)."""
    q = dq.RedisQueue(cluster)
    inbox = Inbox(q)
    inbox.ensure_queue()
    inbox.post([Report("wf1", "s#0:r", b"ok", 2_000.0), Report("wf2", "s#0:r", b"ok", 2_000.0)])
    for wf in ("wf1", "wf2"):
        keys = [inbox.keys.inbox(wf), inbox.keys.generation(wf)]
        assert inbox._drain(keys=keys) == [b"s#0:r", b"ok"]
        assert inbox._ack(keys=keys[:1], args=["s#0:r", "ok"]) == 0
    directory = WorkerDirectory.of(q)
    directory.announce(WorkerInfo("w:1", "host", ("media",)))
    assert directory.hosts("media") == {"host"}
    q.close()
