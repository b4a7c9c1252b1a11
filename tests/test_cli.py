"""``darkroom queue …`` through Typer's runner against the real test Redis."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import typer
from typer.testing import CliRunner

import darkroom.queue as dq
from darkroom.cli import app
from darkroom.cli.queue import parse_deadline
from darkroom.local.redis_server import RedisServer

runner = CliRunner()


def run(*args: str, input: bytes | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


@pytest.fixture
def url(redis_url: str, redis_client: redis.Redis) -> str:
    return redis_url  # redis_client flushed the database


def test_create_enqueue_dequeue_get_query_stats(url: str, rq: dq.RedisQueue) -> None:
    info = run_json("queue", "create", "jobs", "-i", "codec", "--lease-s", "60", "--url", url)
    assert info["indexed_keys"] == ["codec"] and info["lease_s"] == 60
    assert "exclusive on 'asset'" in run("queue", "create", "wf", "--exclusivity-key", "asset", "--url", url)
    late = run_json("queue", "enqueue", "jobs", "late one", "--deadline=-5m", "-m", "codec=av1", "--url", url)["id"]
    soon = run("queue", "enqueue", "jobs", "soon", "--deadline", "+30s", "-m", "codec=h264", "--url", url).strip()
    run("queue", "enqueue", "jobs", "-", "--id", "bin-1", "--deadline", "+1h", "--url", url, input=b"\xff")
    assert rq.get("jobs", soon).payload == b"soon"

    (lease,) = run_json("queue", "dequeue", "jobs", "--where", "codec=h264", "--url", url)
    assert lease["message"]["id"] == soon and lease["token"] >= 1
    assert lease["message"]["payload"] == "soon" and lease["message"]["state"] == "running"

    got = run_json("queue", "get", "jobs", late, "--url", url)
    assert got["state"] == "pending" and got["metadata"] == {"codec": "av1"}
    assert got["deadline"] == pytest.approx(time.time() - 300, abs=30)
    binary = run_json("queue", "get", "jobs", "bin-1", "--url", url)
    assert binary["payload"] is None and binary["payload_base64"] == "/w=="  # not UTF-8

    page = run_json("queue", "query", "jobs", "--state", "pending", "--url", url)
    assert [m["id"] for m in page["messages"]] == [late, "bin-1"]  # earliest deadline first
    assert page["next_cursor"] is None
    first = run_json("queue", "query", "jobs", "--limit", "1", "--url", url)
    assert len(first["messages"]) == 1 and first["next_cursor"]
    rest = run_json("queue", "query", "jobs", "--limit", "10", "--cursor", first["next_cursor"], "--url", url)
    assert len(rest["messages"]) == 2

    drained = run_json("queue", "dequeue", "jobs", "-n", "5", "--complete", "--url", url)
    assert [d["message"]["id"] for d in drained] == [late, "bin-1"]
    assert run_json("queue", "dequeue", "jobs", "--url", url) == []

    rq.enqueue("wf", b"", metadata={"asset": "a1"})
    rq.dequeue("wf")
    stats = {s["queue"]: s for s in run_json("queue", "stats", "--once", "--url", url)}
    assert stats["jobs"]["counts"] == {
        "invisible": 0, "pending": 0, "running": 1, "completed": 2, "canceled": 0, "errored": 0,
    }  # fmt: skip
    assert stats["wf"]["running_per_value"] == {"a1": 1}
    assert stats["jobs"]["lateness_s"] == 0


def test_stats_table_once(url: str, rq: dq.RedisQueue) -> None:
    rq.create_queue("wf", exclusivity_key="asset")
    rq.enqueue("wf", b"", metadata={"asset": "a1"}, deadline=time.time() - 60)
    rq.enqueue("wf", b"", metadata={"asset": "a2"}, deadline=time.time() - 30)
    rq.enqueue("wf", b"", metadata={"asset": "a2"})
    rq.dequeue("wf")
    out = runner.invoke(app, ["queue", "stats", "wf", "--once", "--url", url], env={"COLUMNS": "200"}).stdout
    assert "a1:1" in out and "wf" in out
    assert "s ago" in out  # the oldest pending deadline is in the past


def test_errors_exit_1_and_name_the_problem(url: str) -> None:
    result = runner.invoke(app, ["queue", "get", "nope", "x", "--url", url])
    assert result.exit_code == 1
    assert "queue 'nope' does not exist" in result.output
    result = runner.invoke(app, ["queue", "enqueue", "q", "--meta", "novalue", "--url", url])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_default_url_needs_a_running_private_server(tmp_path: Any) -> None:
    result = runner.invoke(
        app, ["queue", "stats", "--once"], env={"DARKROOM_HOME": str(tmp_path), "DARKROOM_REDIS_URL": None}
    )
    assert result.exit_code == 1
    assert "darkroom queue serve" in result.output


def test_parse_deadline() -> None:
    assert parse_deadline("+30s", now=lambda: 1000.0) == 1030.0
    assert parse_deadline("-2m", now=lambda: 1000.0) == 880.0
    assert parse_deadline("+2h", now=lambda: 1000.0) == 8200.0
    assert parse_deadline("+1d", now=lambda: 1000.0) == 87400.0
    assert parse_deadline("@1700000000.5") == 1700000000.5
    assert parse_deadline("2026-01-01T00:00:00+00:00") == 1767225600.0
    local = parse_deadline("2026-01-01T00:00:00")  # no zone: local time
    assert local == datetime(2026, 1, 1).astimezone().timestamp()


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("+5", "'+5' has no unit: write +5s"),
        ("5", "write +5s (or m, h, d) for a time from now, or @5 for epoch seconds"),
        ("1700000000.5", "@1700000000.5"),
        ("+5y", "'+5y' is not a time"),
        ("soon", "'soon' is not a time"),
        ("", "'' is not a time"),
        ("20260101", "'20260101' has no unit"),
    ],
)
def test_a_deadline_that_is_not_a_time_is_refused_naming_it(text: str, hint: str) -> None:
    with pytest.raises(typer.BadParameter, match=re.escape(hint)):
        parse_deadline(text)


# -- darkroom queue serve, as a real process -------------------------------------------------------
class Served:
    """A ``darkroom queue serve`` child process whose stdout lines are read with a deadline."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "darkroom.cli", "queue", "serve", *args],
            env=base | env | {"COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def line_starting(self, prefix: str, timeout_s: float = 30.0) -> str:
        give_up = time.monotonic() + timeout_s
        while (left := give_up - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting with {prefix!r}; output so far: {self.seen}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:  # never leave a server behind, even when a test fails
        if s.proc.poll() is None:
            s.stop(signal.SIGKILL)


def test_serve_sweeps_exports_metrics_and_stops_on_sigterm(url: str, rq: dq.RedisQueue, served: list[Served]) -> None:
    rq.create_queue("jobs")
    mid = rq.enqueue("jobs", b"x")
    rq.dequeue("jobs", lease_s=0.05)
    server = Served({"DARKROOM_REDIS_URL": url}, "--no-grpc", "--metrics-port", "0", "--sweep-interval-s", "0.05")
    served.append(server)
    metrics_url = server.line_starting("metrics on ").split()[-1]
    server.line_starting("ready")

    give_up = time.monotonic() + 30
    while rq.get("jobs", mid).state is not dq.State.PENDING:  # bounded wait for the sweeper
        assert time.monotonic() < give_up, "the server's sweeper did not expire the lease"
        time.sleep(0.01)
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    assert 'darkroom_queue_events_total{event="expired",queue="jobs"} 1.0' in text
    assert server.stop(signal.SIGTERM) == 0


def test_serve_starts_and_stops_the_private_redis(tmp_path: Path, served: list[Served]) -> None:
    server = Served({"DARKROOM_HOME": str(tmp_path)}, "--no-grpc", "--no-metrics")
    served.append(server)
    assert "private redis-server" in server.line_starting("redis: ")
    server.line_starting("ready")
    assert RedisServer(root=tmp_path).ping()
    assert server.stop(signal.SIGINT) == 0  # Ctrl-C
    assert not RedisServer(root=tmp_path).ping()


def test_serve_fails_fast_when_redis_is_unreachable(served: list[Served]) -> None:
    server = Served({"DARKROOM_REDIS_URL": "redis://127.0.0.1:1/0"}, "--no-grpc", "--no-metrics")
    served.append(server)
    assert "redis is unreachable" in server.line_starting("error:")
    assert server.proc.wait(timeout=60) == 1


def test_commands_over_grpc_through_serve(
    url: str, served: list[Served], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = {"DARKROOM_REDIS_URL": url, "DARKROOM_HOME": str(tmp_path)}
    server = Served(home, "--grpc-addr", "127.0.0.1:0", "--no-metrics")
    served.append(server)
    grpc_url = server.line_starting("queue server listening on ").split()[-1]
    assert server.line_starting("authentication: ").endswith(str(tmp_path / "api.keys"))
    server.line_starting("ready")
    monkeypatch.setenv("DARKROOM_HOME", str(tmp_path))  # the commands find the key under the same home
    assert grpc_url.startswith("grpc://127.0.0.1:")

    run("queue", "create", "wf", "--exclusivity-key", "asset", "--url", grpc_url)
    first = run_json("queue", "enqueue", "wf", "one", "-m", "asset=a1", "--deadline=-1m", "--url", grpc_url)["id"]
    run("queue", "enqueue", "wf", "two", "-m", "asset=a1", "--url", grpc_url)
    (lease,) = run_json("queue", "dequeue", "wf", "-n", "5", "--url", grpc_url)  # one per asset
    assert lease["message"]["id"] == first
    assert run_json("queue", "get", "wf", first, "--url", grpc_url)["state"] == "running"
    assert len(run_json("queue", "query", "wf", "--state", "pending", "--url", grpc_url)["messages"]) == 1
    (stats,) = run_json("queue", "stats", "wf", "--once", "--url", grpc_url)
    assert stats["running_per_value"] == {"a1": 1}
    assert 0 <= stats["lateness_s"] < 30  # "two" is due since its enqueue
    assert server.stop(signal.SIGTERM) == 0


def test_serve_alone_logs_json_lines_with_the_calls_request_id(url: str, served: list[Served], tmp_path: Path) -> None:
    from darkroom.queue.grpc_client import GrpcQueue

    env = {"DARKROOM_REDIS_URL": url, "DARKROOM_HOME": str(tmp_path), "DARKROOM_LOG_FORMAT": "json"}
    server = Served(env, "--grpc-addr", "127.0.0.1:0", "--no-metrics")
    served.append(server)
    grpc_url = server.line_starting("queue server listening on ").split()[-1]
    server.line_starting("ready")
    with GrpcQueue.from_url(grpc_url, api_key="not-the-key") as stranger, pytest.raises(dq.Unauthenticated):
        stranger.list_queues()
    refused = json.loads(server.line_starting('{"time"'))  # the key check's refusal, as a JSON line
    assert refused["logger"] == "darkroom.api.auth" and refused["message"].startswith("refused ")
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", refused["request_id"])
    assert server.stop(signal.SIGTERM) == 0
    assert not [line for line in server.seen if "│" in line or line.startswith("[")]  # no Rich log lines


def test_an_error_naming_brackets_prints_them_as_they_are(tmp_path: Any) -> None:
    # a path (or name) with "[/]" was read as markup: a MarkupError traceback instead of the error
    for odd in ("[/]x", "[bold]y"):
        home = tmp_path / odd
        result = runner.invoke(
            app, ["queue", "stats", "--once"], env={"DARKROOM_HOME": str(home), "DARKROOM_REDIS_URL": None}
        )
        assert result.exit_code == 1, result.output
        assert f"under {home}" in " ".join(result.output.split())
