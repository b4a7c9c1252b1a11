"""``darkroom up`` secure and supervised: one platform per home, the home's key for local clients,
a private redis-server restarted when it dies, and an app that does not import stops it at once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from darkroom.api.auth import client_key, ensure_home_key, load_api_keys
from darkroom.api.errors import AddressUnavailable
from darkroom.cli import app
from darkroom.cli.demos.workflow_demo import APP
from darkroom.config import Settings
from darkroom.local.errors import AlreadyRunning, AppUnavailable, PlatformFailed
from darkroom.local.home_lock import HomeLock
from darkroom.local.platform import LocalPlatform, PlatformConfig
from darkroom.local.queue_service import QueueService, ServiceThread
from darkroom.local.redis_server import RedisServer
from darkroom.observability import new_registry, serve_metrics
from darkroom.platform.supervision import EXIT_APP_UNAVAILABLE
from darkroom.platform.wiring import Wiring
from darkroom.queue.grpc_client import GrpcQueue

Platform = tuple[LocalPlatform, Wiring]


def _until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Poll ``condition`` until it holds (a condition with a deadline, not a sleep)."""
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, "condition not reached in time"
        time.sleep(0.05)


def _settings(home: Path) -> Settings:
    return replace(Settings.from_env({}), home=home, grpc_addr="127.0.0.1:0")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = LocalPlatform(
        _settings(tmp_path / "home"),
        PlatformConfig(engines=1, workers=1, app=APP, metrics=False, grace_s=5, max_redis_restarts=2),
    )
    wiring = p.start()
    yield p, wiring
    p.stop()


class Supervisor:
    """``platform.supervise`` in a thread; ``failure`` is what it raised, if anything."""

    def __init__(self, platform: LocalPlatform) -> None:
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(platform,), daemon=True)
        self._thread.start()

    def _run(self, platform: LocalPlatform) -> None:
        try:
            platform.supervise(self.stop, poll_s=0.05)
        except BaseException as exc:
            self.failure = exc

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(30)


def _redis(p: LocalPlatform) -> RedisServer:
    service = p._service.service if p._service else None
    assert service is not None and service.redis_server is not None
    return service.redis_server


# -- one platform per home ---------------------------------------------------------------------------
def test_the_home_lock_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with HomeLock(home), pytest.raises(AlreadyRunning, match=rf"{home.resolve()} \(pid {os.getpid()}\)"):
        HomeLock(home).acquire()
    HomeLock(home).acquire().release()  # released by the first
    # a holder that is killed leaves no stale lock behind
    code = (
        "import pathlib, sys; from darkroom.local.home_lock import HomeLock; "
        "HomeLock(pathlib.Path(sys.argv[1])).acquire(); print('held', flush=True); input()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(home)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid}"):
            HomeLock(home).acquire()
    finally:
        holder.kill()
        holder.wait()
    HomeLock(home).acquire().release()


def test_a_second_platform_on_a_running_home_refuses(platform: Platform) -> None:
    p, wiring = platform
    second = LocalPlatform(_settings(p.settings.home), PlatformConfig(engines=1, workers=1, app=APP, metrics=False))
    with pytest.raises(AlreadyRunning, match=str(p.settings.home.resolve())):
        second.start()
    assert second.children == []  # nothing of the second one started
    run = wiring.workflows.start("sample.scores", {"n": 2, "salt": "still-up"})  # the first still serves
    _until(lambda: wiring.workflows.get(run.id).done)
    assert wiring.workflows.get(run.id).state == "succeeded"


# -- the home's key ----------------------------------------------------------------------------------
def test_commands_on_the_same_home_send_its_key(platform: Platform, tmp_path: Path) -> None:
    p, _ = platform
    assert p.grpc_url is not None and p.api_key
    runner = CliRunner()
    home = {"DARKROOM_HOME": str(p.settings.home), "DARKROOM_API_KEY": None}
    made = runner.invoke(app, ["queue", "create", "keyed", "--url", p.grpc_url, "--json"], env=home)
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["queue", "stats", "--url", p.grpc_url, "--json"], env=home)
    assert listed.exit_code == 0, listed.output
    assert "keyed" in [s["queue"] for s in json.loads(listed.output)]
    # another home has no key to this server, and is refused with where the key lives
    other = {"DARKROOM_HOME": str(tmp_path / "elsewhere"), "DARKROOM_API_KEY": None}
    refused = runner.invoke(app, ["queue", "stats", "--url", p.grpc_url, "--json"], env=other)
    assert refused.exit_code == 1
    said = " ".join(refused.output.split())
    assert "missing API key" in said
    assert f"{tmp_path / 'elsewhere' / 'api.keys'} does not exist or you cannot read it" in said
    assert "$DARKROOM_HOME/api.keys" in said and "DARKROOM_API_KEY" in said and "--api-key" in said
    assert p.api_key not in refused.output
    # a home with a key of its own: that key is refused, and the hint says the home is not the server's
    own = tmp_path / "own"
    ensure_home_key(_settings(own))
    refused = runner.invoke(
        app, ["queue", "stats", "--url", p.grpc_url], env={"DARKROOM_HOME": str(own), "DARKROOM_API_KEY": None}
    )
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "not valid" in said
    assert f"the key in {own / 'api.keys'} was refused, so {p.grpc_url} was started with another DARKROOM_HOME" in said
    # a key given by hand is named as the one refused, without printing it
    refused = runner.invoke(app, ["queue", "stats", "--url", p.grpc_url, "--api-key", "wrong-key-123"], env=home)
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "The key from --api-key / DARKROOM_API_KEY was refused" in said
    assert "wrong-key-123" not in refused.output


# -- supervision -------------------------------------------------------------------------------------
def test_a_killed_redis_server_is_restarted_and_the_platform_serves_again(platform: Platform) -> None:
    p, wiring = platform
    redis = _redis(p)
    first_pid = redis.pid
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)  # the redis-server this test's platform started
    supervisor = Supervisor(p)
    try:
        _until(lambda: p.redis_restarts == 1)
        assert redis.running and redis.pid != first_pid and redis.ping()
        run = wiring.workflows.start("sample.scores", {"n": 3, "salt": "after-redis"})
        _until(lambda: wiring.workflows.get(run.id).done, timeout_s=120)
        assert wiring.workflows.get(run.id).state == "succeeded"
        assert supervisor.running and supervisor.failure is None
    finally:
        supervisor.close()


def test_queue_serve_restarts_its_redis_server_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    env |= {"DARKROOM_HOME": str(home), "COLUMNS": "200"}
    argv = [sys.executable, "-m", "darkroom.cli", "queue", "serve", "--grpc-addr", "127.0.0.1:0", "--no-metrics"]
    with (tmp_path / "serve.log").open("w") as log:
        serve = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert serve.stdout is not None
        said = []
        for line in serve.stdout:  # ends at "ready", or at EOF if it died
            said.append(line)
            if line.startswith("ready"):
                break
        url = next(line.split()[-1] for line in said if line.startswith("queue server listening on"))
        redis = RedisServer(root=home)
        first_pid = redis.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)  # the redis-server this test's `queue serve` started
        _until(lambda: redis.pid not in (None, first_pid) and redis.ping())
        with GrpcQueue.from_url(url, api_key=client_key(Settings(home=home), url)) as q:
            q.create_queue("after-redis")
            assert [info.name for info in q.list_queues()] == ["after-redis"]
        assert serve.poll() is None
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    assert serve.returncode == 0
    assert "the private redis-server is back" in (tmp_path / "serve.log").read_text()


def _alive(pid: int) -> bool:
    """A process that runs (a zombie waiting for its reaper has stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_children_of_a_killed_up_stop_instead_of_running_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    env |= {"DARKROOM_HOME": str(home), "DARKROOM_GRPC_ADDR": "127.0.0.1:0", "DARKROOM_METRICS_PORT": "-1"}
    env |= {"DARKROOM_HTTP_ADDR": "127.0.0.1:0"}
    argv = [sys.executable, "-m", "darkroom.cli", "up", "--app", APP, "--workers", "1", "--engines", "1"]
    with (tmp_path / "up.log").open("w") as log:
        up = subprocess.Popen(argv, env=env | {"COLUMNS": "300"}, stdout=subprocess.PIPE, stderr=log, text=True)
    children: list[int] = []
    try:
        assert up.stdout is not None
        assert "darkroom up" in up.stdout.readline()  # the banner: everything started
        children = [pid for pid in _children(up.pid) if "darkroom.cli" in Path(f"/proc/{pid}/cmdline").read_text()]
        # an engine, a worker, the social runner, the HTTP server, the ingest, the analytics worker
        # and the analytics jobs' trigger loop
        assert len(children) == 7
        up.kill()  # SIGKILL: up says nothing to anyone
        up.wait()
        _until(lambda: not any(_alive(pid) for pid in children))
        names = ("engine-1.log", "worker-1.log", "social-1.log", "ingest-1.log", "analytics-scheduler-1.log")
        logs = " ".join((home / "logs" / name).read_text() for name in names)
        assert logs.count(f"darkroom up (pid {up.pid}) is gone; stopping") == 5
        # the next up on this home starts as if nothing had been there
        second = LocalPlatform(_settings(home), PlatformConfig(engines=1, workers=0, app=APP, metrics=False))
        second.start()
        second.stop()
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # a child of this test's up, if it outlived the test
        redis = RedisServer(root=home)
        if redis.running and redis.pid:
            os.kill(redis.pid, signal.SIGTERM)  # the redis-server the killed up left (its own session)


def test_a_redis_server_that_keeps_dying_stops_the_platform(platform: Platform) -> None:
    p, _ = platform
    redis = _redis(p)
    assert redis.pid is not None
    os.kill(redis.pid, signal.SIGKILL)
    redis.running  # noqa: B018 (reaps it)
    # a manifest redis-server cannot read: every restart exits at once
    (redis.root / "redis-data" / "appendonlydir" / "appendonly.aof.manifest").write_text("not a manifest\n")
    supervisor = Supervisor(p)
    try:
        _until(lambda: not supervisor.running)
        assert isinstance(supervisor.failure, PlatformFailed)
        assert "keeps dying" in str(supervisor.failure) and "redis.log" in str(supervisor.failure)
    finally:
        supervisor.close()


def test_a_child_that_cannot_load_the_app_stops_the_platform(platform: Platform) -> None:
    p, _ = platform
    worker = next(c for c in p.children if c.name == "worker-1")
    assert worker.proc is not None
    worker.proc.kill()  # a worker this test's platform started
    worker.proc.wait()
    worker.env = {**worker.env, "DARKROOM_APP": "bogus_module_xyz:registry"}  # its next start cannot import it
    supervisor = Supervisor(p)
    try:
        _until(lambda: not supervisor.running, timeout_s=120)
        assert worker.proc.returncode == EXIT_APP_UNAVAILABLE
        assert isinstance(supervisor.failure, PlatformFailed)
        assert "worker-1" in str(supervisor.failure) and "bogus_module_xyz:registry" in str(supervisor.failure)
    finally:
        supervisor.close()


def test_a_bad_app_is_refused_before_anything_starts(tmp_path: Path) -> None:
    p = LocalPlatform(_settings(tmp_path / "home"), PlatformConfig(app="bogus_module_xyz:registry", metrics=False))
    with pytest.raises(AppUnavailable, match="bogus_module_xyz:registry"):
        p.start()
    assert p.children == [] and p.grpc_url is None
    HomeLock(tmp_path / "home").acquire().release()  # and the home is free again


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DARKROOM_HOME": str(home),
        "DARKROOM_GRPC_ADDR": "127.0.0.1:0",
        "DARKROOM_METRICS_PORT": "-1",
    }
    return subprocess.run(
        [sys.executable, "-m", "darkroom.cli", *args], check=False, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("command", [["up"], ["worker"], ["engine"]])
def test_the_commands_say_once_why_a_bad_app_does_not_load(command: list[str], tmp_path: Path) -> None:
    done = _cli(tmp_path / "home", *command, "--app", "bogus_module_xyz:registry")
    assert done.returncode == (1 if command == ["up"] else EXIT_APP_UNAVAILABLE), done.stderr
    assert "Traceback" not in done.stderr
    named = [line for line in done.stderr.splitlines() if "bogus_module_xyz:registry" in line]
    assert len(named) == 1 and named[0].startswith("error:"), done.stderr


def test_up_on_a_taken_metrics_port_says_which_and_stops(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(AddressUnavailable, match=f"cannot serve /metrics on 127.0.0.1:{port}"):
            serve_metrics(new_registry(), port)
        env = {**os.environ, "DARKROOM_HOME": str(tmp_path / "home"), "DARKROOM_GRPC_ADDR": "127.0.0.1:0"}
        env |= {"DARKROOM_HTTP_ADDR": "127.0.0.1:0"}
        done = subprocess.run(
            [sys.executable, "-m", "darkroom.cli", "up", "--app", APP, "--workers", "0"],
            check=False,
            env=env | {"DARKROOM_METRICS_PORT": str(port), "COLUMNS": "300"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert f"error: cannot serve /metrics on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
    HomeLock(tmp_path / "home").acquire().release()  # everything that had started stopped again


def test_the_service_key_is_one_the_service_accepts(redis_url: str, tmp_path: Path) -> None:
    # DARKROOM_API_KEY set for some other server must not become what `demo` sends to its own
    settings = replace(_settings(tmp_path / "home"), redis_url=redis_url, api_key="for-another-server")
    with ServiceThread(QueueService(settings, metrics_port=-1)) as service:
        assert service.api_key == load_api_keys(tmp_path / "home" / "api.keys")["local"]
        assert service.grpc_url is not None
        with GrpcQueue.from_url(service.grpc_url, api_key=service.api_key) as q:
            q.list_queues()
    # and a DARKROOM_API_KEY the server does accept is the one used
    keys = tmp_path / "keys"
    keys.write_text("ci:the-ci-key\nlocal:other\n")
    keys.chmod(0o600)
    chosen = replace(settings, api_keys_file=str(keys), api_key="the-ci-key")
    with ServiceThread(QueueService(chosen, metrics_port=-1)) as service:
        assert service.api_key == "the-ci-key"


@pytest.mark.parametrize("command", [["queue", "serve", "--no-metrics"], ["up", "--app", APP, "--workers", "0"]])
def test_a_home_with_brackets_is_printed_as_it_is(command: list[str], tmp_path: Path) -> None:
    home = tmp_path / "[/]odd [bold]home"  # was read as Rich markup: a MarkupError once everything had started
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    env |= {"DARKROOM_HOME": str(home), "DARKROOM_GRPC_ADDR": "127.0.0.1:0", "DARKROOM_METRICS_PORT": "-1"}
    env |= {"DARKROOM_HTTP_ADDR": "127.0.0.1:0"}
    with (tmp_path / "err.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "darkroom.cli", *command],
            env=env | {"COLUMNS": "300"},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert proc.stdout is not None
        said = ""
        for line in proc.stdout:  # up prints one banner line; serve ends its lines with "ready"
            said += line
            if line.startswith(("ready", "darkroom up")):
                break
        assert str(home) in said, said + (tmp_path / "err.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0, (tmp_path / "err.log").read_text()
