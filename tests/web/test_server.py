"""serve(): uvicorn on uvloop and httptools, refusing a taken or malformed address by name."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkroom.api.errors import AddressUnavailable
from darkroom.web.server import HttpServer, bind, serve


def test_a_taken_port_is_refused_naming_the_address(client: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(AddressUnavailable, match=f"cannot listen on {address}"):
            serve(client.app, address)


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1", ":8000", "unix:/tmp/x.sock"])
def test_a_malformed_address_is_refused_naming_it(address: str) -> None:
    with pytest.raises(AddressUnavailable, match="cannot listen on"):
        bind(address)


def test_it_serves_over_http(client: Any) -> None:
    server = HttpServer(client.app, "127.0.0.1:0", log_level="warning")
    port = server.bind()  # listening from here on: the request waits in the backlog until uvicorn accepts it
    assert server.config.loop == "uvloop" and server.config.http == "httptools"
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/demo/items?limit=1", timeout=30)
        assert response.status_code == 200 and "ratelimit-limit" in response.headers
        assert "server" not in response.headers
    finally:
        server.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_several_workers_need_a_factory_not_an_app(client: Any) -> None:
    with pytest.raises(ValueError, match="module:function"):
        HttpServer(client.app, "127.0.0.1:0", workers=2)
    with pytest.raises(ValueError, match="workers 0"):
        HttpServer("darkroom.cli._wiring:http_app", "127.0.0.1:0", workers=0)


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_darkroom_http_serves_one_address_from_several_worker_processes(tmp_path: Path, redis_url: str) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DARKROOM_HOME": str(tmp_path),
        "DARKROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "DARKROOM_HTTP_WORKERS": "2",  # the setting; --workers would say the same
    }
    argv = [sys.executable, "-m", "darkroom.cli", "http", "--http-addr", f"127.0.0.1:{port}", "--url", redis_url]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # the port is bound before the workers start: the request waits in the backlog until one accepts
        response = _get_when_bound(f"http://127.0.0.1:{port}/v1/feed", proc)
        assert response.status_code == 401  # a worker's whole app answered (the edge, problem+json)
        assert response.headers["content-type"] == "application/problem+json"
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers  # two workers (multiprocessing may add a helper)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0  # the supervisor stopped and joined its workers first
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _get_when_bound(url: str, proc: subprocess.Popen[bytes]) -> httpx.Response:
    """GET ``url`` once the command says its supervisor started (the port is bound before that)."""
    assert proc.stderr is not None
    seen: list[bytes] = []
    for line in proc.stderr:
        seen.append(line)
        if b"Started parent process" in line:
            return httpx.get(url, timeout=60)
    raise AssertionError(f"darkroom http exited with {proc.wait()}: {b''.join(seen)!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_requests_run_on_few_threads_and_uploads_on_threads_of_their_own(client: Any) -> None:
    import anyio
    import anyio.to_thread

    from darkroom.web.app import UPLOAD_THREADS

    def tokens() -> float:
        return float(anyio.to_thread.current_default_thread_limiter().total_tokens)

    # the app started (lifespan): the default limiter is the setting's, uploads have their own
    assert client.portal.call(tokens) == client.app.state.deps.settings.http_threads == 4
    uploads = client.app.state.upload_threads
    assert isinstance(uploads, anyio.CapacityLimiter) and uploads.total_tokens == UPLOAD_THREADS


def test_darkroom_http_adds_up_its_workers_metrics_on_its_own_port_and_logs_json(
    tmp_path: Path, redis_url: str
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "DARKROOM_HOME": str(tmp_path),
        "DARKROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "DARKROOM_LOG_FORMAT": "json",
    }
    stale = tmp_path / "metrics" / "http" / "counter_1.db"  # a file of an earlier run: not counted
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\0" * 8)
    argv = [
        sys.executable, "-m", "darkroom.cli", "http", "--http-addr", f"127.0.0.1:{port}", "--url", redis_url,
        "--workers", "2", "--metrics-port", str(metrics_port),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _get_when_bound(f"http://127.0.0.1:{port}/v1/feed", proc).status_code == 401
        for i in range(19):  # a connection each: the kernel spreads them over both workers
            answer = httpx.get(f"http://127.0.0.1:{port}/v1/posts/01J{i:023d}", timeout=60)
            assert answer.headers["x-request-id"]
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60).status_code == 404  # not on the app's port
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=60).text
        counted = {
            (s.labels["route"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "darkroom_http_requests_total"
        }
        assert counted[("/v1/feed", "401")] == 1
        assert sum(v for (route, _), v in counted.items() if route == "/v1/posts/{post_id}") == 19
        assert len(list(stale.parent.glob("*.db"))) >= 2 and not stale.exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert proc.stderr is not None
        lines = [json.loads(line) for line in proc.stderr.read().splitlines() if line.strip()]
        assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
