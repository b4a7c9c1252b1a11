"""Secure by default: the served queue requires the home's generated key, a taken or malformed
address is refused, a key goes in plaintext only to this machine, and namespaces are checked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
import redis

import darkroom.queue as dq
from darkroom.api.auth import LOCAL_KEY_NAME, client_key, ensure_home_key, load_api_keys, server_keys
from darkroom.api.errors import AddressUnavailable, InsecureTransport
from darkroom.api.transport import is_local, listener_uids
from darkroom.config import ConfigError, Settings
from darkroom.errors import DarkroomError
from darkroom.queue.errors import InvalidNamespace
from darkroom.queue.grpc_client import AsyncGrpcQueue, GrpcQueue
from darkroom.queue.keys import MAX_NAMESPACE_CHARS
from darkroom.queue.server import QueueServer, ServerThread, serve
from darkroom.runtime.operations_server import OperationsClient


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """``serve(settings)`` on its own loop in a thread, until the block ends; yields its URL."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(serve(settings))

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    target = settings.grpc_addr
    try:
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
        yield f"grpc://{target}"
    finally:
        loop.call_soon_threadsafe(task.cancel)
        runner.join(10)
        loop.close()


@pytest.fixture
def home_settings(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", redis_url=redis_url, grpc_addr=f"127.0.0.1:{_free_port()}")


# -- the home's key ----------------------------------------------------------------------------------
def test_serve_generates_the_home_key_and_requires_it(home_settings: Settings) -> None:
    home = home_settings.home
    with serving(home_settings) as url:
        key_file = home / "api.keys"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        key = load_api_keys(key_file)[LOCAL_KEY_NAME]
        assert len(key) >= 40
        with GrpcQueue.from_url(url, api_key=key) as owner:
            owner.create_queue("precious")
        # no key, a wrong key, the right one with a character changed: refused, for a list and a delete
        for presented in (None, "not-the-key", key[:-1] + ("A" if key[-1] != "A" else "B")):
            with GrpcQueue.from_url(url, api_key=presented) as other:
                with pytest.raises(dq.Unauthenticated):
                    other.list_queues()
                with pytest.raises(dq.Unauthenticated):
                    other.delete_queue("precious")
        with GrpcQueue.from_url(url, api_key=key) as owner:
            assert [q.name for q in owner.list_queues()] == ["precious"]  # nothing was deleted
            owner.delete_queue("precious")
            assert owner.list_queues() == []
    # a second start keeps the key the first one generated
    with serving(replace(home_settings, grpc_addr=f"127.0.0.1:{_free_port()}")) as url:
        assert load_api_keys(home / "api.keys")[LOCAL_KEY_NAME] == key
        with GrpcQueue.from_url(url, api_key=client_key(home_settings, url)) as owner:
            assert owner.list_queues() == []


def test_first_starts_racing_agree_on_one_key(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    barrier = threading.Barrier(8)
    found: list[dict[str, str]] = []

    def first_start() -> None:
        barrier.wait()
        found.append(ensure_home_key(settings))

    threads = [threading.Thread(target=first_start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and all(keys == found[0] for keys in found)
    assert [p.name for p in settings.home.iterdir()] == ["api.keys"]  # no temporary file left


def test_a_keys_file_replaces_the_home_key(
    home_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = tmp_path / "keys"
    keys.write_text("ci:s3cret\n")
    keys.chmod(0o644)
    settings = replace(home_settings, api_keys_file=str(keys))
    with caplog.at_level(logging.WARNING), serving(settings) as url:
        assert f"{keys} is readable by other users" in caplog.text
        assert not (settings.home / "api.keys").exists()
        assert client_key(settings, url) == "s3cret"
        with GrpcQueue.from_url(url, api_key="s3cret") as client:
            assert client.list_queues() == []


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_keys_file_others_can_write_is_refused(home_settings: Settings, tmp_path: Path, mode: int) -> None:
    keys = tmp_path / "keys"
    keys.write_text("ci:s3cret\n")
    keys.chmod(mode)
    with pytest.raises(ConfigError, match=f"{keys} can be written by .*chmod 600"):
        server_keys(replace(home_settings, api_keys_file=str(keys)))
    keys.chmod(0o600)
    assert server_keys(replace(home_settings, api_keys_file=str(keys))) == {"ci": "s3cret"}


def test_the_client_key_stays_home(home_settings: Settings) -> None:
    ensure_home_key(home_settings)
    local = client_key(home_settings, "grpc://127.0.0.1:50051")
    assert local is not None
    assert client_key(home_settings, "[::1]:50051") == local
    assert client_key(home_settings, "grpc://localhost:50051") == local
    assert client_key(home_settings, "grpc://queue-1.example:50051") is None  # a remote host gets none unasked
    assert client_key(replace(home_settings, api_key="given"), "grpc://queue-1.example:50051") == "given"
    assert client_key(replace(home_settings, home=home_settings.home / "nope"), "127.0.0.1:1") is None


STRANGER_UID = 65534  # nobody
_LISTEN = (
    "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
    " print(s.getsockname()[1], flush=True); sys.stdin.read()"
)


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/proc/net/tcp").exists(), reason="needs root and Linux")
def test_the_home_key_is_not_handed_to_a_port_another_user_holds(home_settings: Settings) -> None:
    ensure_home_key(home_settings)
    # another local user holds a loopback port, as a server posing as ours would
    stranger = subprocess.Popen(
        ["/usr/bin/python3", "-c", _LISTEN], user=STRANGER_UID, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert stranger.stdout is not None
        port = int(stranger.stdout.readline())
        assert listener_uids(port) == {STRANGER_UID}
        url = f"grpc://127.0.0.1:{port}"
        with pytest.raises(InsecureTransport, match=rf"port is held by uid {STRANGER_UID}, not by you"):
            client_key(home_settings, url)
        with pytest.raises(InsecureTransport):
            client_key(home_settings, f"localhost:{port}")
        # a key given on purpose (a server run by a service account) is the caller's choice
        assert client_key(replace(home_settings, api_key="given"), url) == "given"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
        env |= {"DARKROOM_HOME": str(home_settings.home), "COLUMNS": "300"}
        refused = subprocess.run(
            [sys.executable, "-m", "darkroom.cli", "queue", "stats", "--url", url, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 1 and f"uid {STRANGER_UID}" in refused.stderr
    finally:
        stranger.kill()
        stranger.wait()
    # our own server on a port: the key goes (the other tests), and the table says it is ours
    with serving(home_settings) as ours:
        assert listener_uids(int(ours.rsplit(":", 1)[1])) == {os.geteuid()}
        assert client_key(home_settings, ours)


def test_no_auth_must_be_asked_for_and_is_logged(home_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING),
        serving(replace(home_settings, grpc_auth="none")) as url,
        GrpcQueue.from_url(url) as anyone,
    ):
        assert anyone.list_queues() == []
    assert "authentication is OFF" in caplog.text
    assert not (home_settings.home / "api.keys").exists()
    with pytest.raises(ConfigError, match="'off'"):
        Settings.from_env({"DARKROOM_GRPC_AUTH": "off"})


def test_the_building_blocks_say_when_they_serve_without_keys(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # QueueServer / ServerThread serve without keys when given none (tests, benchmarks): on
    # loopback too, that is every local user's to call, and they say so
    with caplog.at_level(logging.WARNING), ServerThread(redis_url) as open_server:
        assert "listens on 127.0.0.1:0 without API keys: every local user can call it" in caplog.text
        GrpcQueue.from_url(open_server.url).close()
    caplog.clear()
    with caplog.at_level(logging.WARNING), ServerThread(redis_url, api_keys=["k"]):
        assert "without API keys" not in caplog.text


# -- the listen address ------------------------------------------------------------------------------
def test_a_taken_port_is_refused_naming_the_address(redis_url: str, redis_client: redis.Redis) -> None:
    with socket.socket() as holder:  # a real socket holding the port, as another program would
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        with pytest.raises(AddressUnavailable, match=address):
            ServerThread(redis_url, address=address).start()
    # and a second queue server on the first one's port (grpc's SO_REUSEPORT would let it share)
    with ServerThread(redis_url) as first:
        with pytest.raises(AddressUnavailable, match=first.target):
            ServerThread(redis_url, address=first.target).start()
        with GrpcQueue.from_url(first.url) as client:  # the first one still serves
            assert client.list_queues() == []


def test_queue_serve_on_a_taken_port_exits_naming_it(redis_url: str, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DARKROOM_", "GRPC_"))}
        env |= {"DARKROOM_REDIS_URL": redis_url, "DARKROOM_HOME": str(tmp_path), "COLUMNS": "200"}
        argv = [sys.executable, "-m", "darkroom.cli", "queue", "serve", "--grpc-addr", address, "--no-metrics"]
        done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=60)
        debugged = subprocess.run([*argv, "--debug"], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    # exactly our line: gRPC's own log line (E… add_port.cc … Address already in use) stays quiet
    assert done.stderr.splitlines() == [f"error: cannot listen on {address}: the address is in use or not this host's"]
    assert "ready" not in done.stdout
    assert "add_port" in debugged.stderr  # --debug keeps gRPC's logging


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1", ":50051"])
def test_a_malformed_address_is_refused(redis_url: str, address: str) -> None:
    with pytest.raises(AddressUnavailable, match=repr(address).strip("'")):
        ServerThread(redis_url, address=address).start()


def test_the_highest_port_is_accepted(redis_url: str) -> None:
    queue = dq.AsyncRedisQueue.from_url(redis_url)
    server = QueueServer(queue, "127.0.0.1:65535", sweep_interval_s=None)

    async def bind() -> int:
        try:
            return await server.start()
        except AddressUnavailable as exc:  # taken on this machine: refused, never remapped
            assert "127.0.0.1:65535" in str(exc)
            return 65535
        finally:
            await server.stop(0)
            await queue.close()

    assert asyncio.run(bind()) == 65535


# -- keys on the wire --------------------------------------------------------------------------------
REMOTE = ["grpc://10.1.2.3:50051", "grpc://queue-1.example:50051", "grpc://[2001:db8::1]:50051", "grpc://0.0.0.0:1"]


@pytest.mark.parametrize("url", REMOTE)
def test_a_key_in_plaintext_to_another_host_is_refused(url: str) -> None:
    # Deciding needs no connection: nothing is sent anywhere in this test.
    target = url.removeprefix("grpc://")
    with pytest.raises(InsecureTransport, match=target.replace("[", r"\[").replace("]", r"\]")):
        GrpcQueue.from_url(url, api_key="k")
    with pytest.raises(InsecureTransport):
        AsyncGrpcQueue.from_url(url, api_key="k")
    with pytest.raises(InsecureTransport):
        OperationsClient(url, api_key="k")
    with pytest.raises(InsecureTransport):
        dq.connect(url, api_key="k")
    # without a key, over TLS, or asked for explicitly: a (lazy, unconnected) channel is made
    GrpcQueue.from_url(url).close()
    GrpcQueue.from_url(url.replace("grpc://", "grpcs://"), api_key="k").close()
    GrpcQueue.from_url(url, api_key="k", insecure=True).close()
    OperationsClient(url, api_key="k", insecure=True).close()


PROXY_VARIABLES = ("http_proxy", "https_proxy", "grpc_proxy", "HTTP_PROXY", "HTTPS_PROXY")


def test_a_channel_to_this_machine_bypasses_http_proxies(
    home_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # grpc sends every channel through $http_proxy: the key would go to the proxy host, and
    # "127.0.0.1" would be that host. The proxy here is a bare socket on loopback that counts
    # who connects to it.
    with socket.socket() as proxy, serving(home_settings) as url:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        for variable in PROXY_VARIABLES:
            monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.getsockname()[1]}")
        for variable in ("no_proxy", "NO_PROXY", "no_grpc_proxy"):
            monkeypatch.delenv(variable, raising=False)
        key = client_key(home_settings, url)
        with GrpcQueue.from_url(url, api_key=key) as q:
            assert q.list_queues() == []

        async def listed() -> list[object]:
            async with AsyncGrpcQueue.from_url(url, api_key=key) as aq:
                return list(await aq.list_queues())

        assert asyncio.run(listed()) == []
        with OperationsClient(url, api_key=key, timeout_s=10) as ops, pytest.raises(DarkroomError) as reply:
            ops.get("op_1")  # reaches the queue server, which has no Operations service
        assert not isinstance(reply.value, dq.Unavailable), reply.value
        proxy.settimeout(0)
        with pytest.raises(BlockingIOError):
            proxy.accept()  # nobody came through the proxy
        # the control: the same environment does send a channel to another host through the
        # proxy, which is asked to CONNECT (so nothing leaves this machine)
        with GrpcQueue.from_url("grpc://queue-1.example:50051", timeout_s=5) as remote:
            caller = threading.Thread(target=_ignoring_errors, args=(remote.list_queues,), daemon=True)
            caller.start()
            proxy.settimeout(10)
            conn, _ = proxy.accept()
            with conn:
                assert conn.recv(200).startswith(b"CONNECT queue-1.example:50051")
            caller.join(10)


def _ignoring_errors(call: Callable[[], object]) -> None:
    with contextlib.suppress(DarkroomError):
        call()


@pytest.mark.parametrize(
    "target", ["127.0.0.1:1", "127.9.9.9:1", "[::1]:1", "localhost:1", "LOCALHOST:1", "unix:/tmp/s", "grpc://[::1]:1"]
)
def test_this_machine_is_local(target: str) -> None:
    assert is_local(target)


@pytest.mark.parametrize("target", ["10.0.0.1:1", "example.com:1", "[2001:db8::1]:1", "localhost.example:1"])
def test_other_hosts_are_not_local(target: str) -> None:
    assert not is_local(target)


# -- namespaces --------------------------------------------------------------------------------------
GOOD_NAMESPACES = ["dr", "a", "team-1.prod:queues_2", "x" * MAX_NAMESPACE_CHARS]
BAD_NAMESPACES = [
    "",
    "a{b}",
    "ab{cd",
    "ab}cd",
    "a b",
    "a*b",
    "a?b",
    "ü",
    "dr\n",
    "a\nb",
    "x" * (MAX_NAMESPACE_CHARS + 1),
]


@pytest.mark.parametrize("namespace", GOOD_NAMESPACES)
def test_namespaces_up_to_the_limit_are_accepted(namespace: str, redis_client: redis.Redis) -> None:
    q = dq.RedisQueue(redis_client, namespace=namespace)
    q.create_queue("ns")
    assert [i.name for i in q.list_queues()] == ["ns"]
    assert Settings(namespace=namespace).namespace == namespace


@pytest.mark.parametrize("namespace", BAD_NAMESPACES)
def test_a_bad_namespace_is_refused_naming_it(namespace: str, redis_url: str) -> None:
    named = repr(namespace)
    with pytest.raises(InvalidNamespace) as err:
        dq.RedisQueue(redis.Redis.from_url(redis_url), namespace=namespace)
    assert named in str(err.value) and err.value.field == "namespace"
    with pytest.raises(InvalidNamespace, match=re.escape(named[:20])):
        dq.connect(redis_url, namespace=namespace)
    with pytest.raises(InvalidNamespace):
        dq.AsyncRedisQueue.from_url(redis_url, namespace=namespace)
    with pytest.raises(InvalidNamespace):
        dq.connect("grpc://127.0.0.1:1", namespace=namespace)
    with pytest.raises(InvalidNamespace):
        ServerThread(redis_url, namespace=namespace).start()
    with pytest.raises(ConfigError, match="DARKROOM_NAMESPACE"):
        Settings.from_env({"DARKROOM_NAMESPACE": namespace})
