"""``darkroom health`` against real redis-servers: JSON, the table, exit statuses, no Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from darkroom.cli import app
from darkroom.config import Settings
from darkroom.observability import CHECK_NAMES, serve_metrics
from darkroom.observability.platform_checks import PLATFORM_CHECK_NAMES
from darkroom.runtime.directory import WorkerDirectory, WorkerInfo
from darkroom.runtime.workflow.store import RunRow, WorkflowStore
from darkroom.storage.db import open_database
from darkroom.web.telemetry import HttpMetrics
from tests.observability.conftest import Health, open_health

runner = CliRunner()


@pytest.fixture
def health(tmp_path: Path) -> Iterator[Health]:
    """A private redis-server of this test's own (tests/observability/conftest.py)."""
    yield from open_health(tmp_path)


def _health(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["health", "--interval", "0", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_of_a_healthy_redis_exits_0(health: Health) -> None:
    health.admin.latency_reset()
    code, out, _ = _health("--url", health.url, "--json", "--redis-only")
    report = json.loads(out)
    assert set(report) == {"status", "checks"} and report["status"] == "ok", out
    assert [c["name"] for c in report["checks"]] == list(CHECK_NAMES)
    for check in report["checks"]:
        assert set(check) == {"name", "status", "value", "threshold", "message"}
    assert code == 0


def test_a_warning_exits_1(health: Health) -> None:
    health.admin.latency_reset()
    health.admin.config_set("maxmemory", 512 * 1024 * 1024)
    health.admin.config_set("maxmemory-policy", "allkeys-lru")
    code, out, _ = _health("--url", health.url, "--json")
    report = json.loads(out)
    evictions = next(c for c in report["checks"] if c["name"] == "evictions")
    assert (report["status"], evictions["status"], code) == ("warn", "warn", 1)


def test_a_critical_check_exits_2_and_the_table_shows_redis_text_literally(health: Health) -> None:
    health.admin.client_setname("[bold]x[/bold]")
    health.admin.execute_command("DEBUG", "SLEEP", "0.03")  # a slow command from that client
    code, out, _ = _health("--url", health.url, "--redis-only")
    assert code == 2
    assert "Redis health: critical" in out and "slowlog" in out
    assert "[bold]x[/bold]" in out.replace("\n", "").replace("│", "").replace(" ", "")


def _checks(out: str) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in json.loads(out)["checks"]}


def test_the_platform_checks_follow_redis_s_each_provoked_with_its_exit_status(health: Health, tmp_path: Path) -> None:
    health.admin.latency_reset()
    home = ["--url", health.url, "--home", str(tmp_path / "home"), "--json"]
    code, out, _ = _health(*home)
    checks = _checks(out)
    assert list(checks) == [*CHECK_NAMES, *PLATFORM_CHECK_NAMES]
    assert checks["workers"]["status"] == "warn" and code == 1  # no worker announced itself
    assert {checks[n]["status"] for n in ("heartbeat_failures", "workflow_failure", "http_errors")} == {"ok"}

    directory = WorkerDirectory(health.client())
    directory.announce(WorkerInfo("w1", "host-a"))
    for _ in range(10):
        directory.heartbeat_failed("w1")
    code, out, _ = _health(*home)
    failures = _checks(out)["heartbeat_failures"]
    assert (failures["status"], failures["value"], code) == ("critical", 10.0, 2)

    database = open_database(Settings(home=tmp_path / "home"))  # the home's workflow store
    store, now = WorkflowStore(database), time.time()
    with database.begin() as conn:
        for i in range(5):
            state = "failed" if i < 2 else "succeeded"
            store.create(conn, RunRow(f"run{i}", "encode", state, {}, "standard", now, now, now, ended_at=now))
    database.dispose()
    directory.leave("w1")
    health.admin.delete("dr:{rt:workers}:heartbeat_failures")
    directory.announce(WorkerInfo("w2", "host-a"))
    code, out, _ = _health(*home)
    workflows = _checks(out)["workflow_failure"]
    assert (workflows["status"], workflows["value"], code) == ("critical", 0.4, 2), workflows
    assert workflows["message"] == "2 of 5 runs of encode failed in 15 min"


def test_http_checks_read_the_http_servers_metrics(health: Health, tmp_path: Path) -> None:
    health.admin.latency_reset()
    registry = CollectorRegistry()
    edge = HttpMetrics(registry)
    for status in (200, 200, 200, 503):
        edge.observe("/v1/uploads", "POST", status, 0.004)
    directory = WorkerDirectory(health.client())
    directory.announce(WorkerInfo("w1", "host-a"))
    with serve_metrics(registry) as served:
        args = ["--url", health.url, "--home", str(tmp_path / "home"), "--json", "--http-metrics", served.url]
        code, out, _ = _health(*args)
    checks = _checks(out)
    assert (checks["http_errors"]["status"], checks["http_errors"]["value"], code) == ("critical", 0.25, 2)
    assert checks["http_errors"]["message"] == "1 of 4 HTTP requests answered 5xx since the HTTP server started"
    assert checks["http_latency"]["status"] == "ok" and 0.0025 < float(checks["http_latency"]["value"]) <= 0.005
    code, out, _ = _health(*args)  # the server gone: said, not judged
    assert "could not be read" in str(_checks(out)["http_errors"]["message"]) and code == 0


def test_an_unreachable_redis_is_one_line_and_exit_2(health: Health) -> None:
    url = health.url
    health.server.stop()
    code, out, err = _health("--url", url)
    assert code == 2 and out == ""
    assert err.startswith("error: Redis at unix://") and "unreachable" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert health.server.password not in err


def test_no_platform_running_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, _, err = _health("--home", str(tmp_path / "home"))
    assert code == 2 and err.startswith("error: no Redis") and len(err.strip().splitlines()) == 1


def test_a_redis_that_cannot_be_read_is_one_line_and_exit_2(health: Health) -> None:
    """A probe must not read a database index the server lacks as a mere warning (exit 1)."""
    code, out, err = _health("--url", f"{health.url}&db=99", "--redis-only")
    assert code == 2 and out == ""
    assert err.startswith("error: Redis at unix://") and "cannot be read: DB index is out of range" in err
    assert len(err.strip().splitlines()) == 1 and health.server.password not in err


def test_an_http_metrics_value_that_is_no_http_url_is_a_usage_error(health: Health) -> None:
    for bad in ("garbage", "redis://127.0.0.1:9470/metrics"):
        code, out, err = _health("--url", health.url, "--http-metrics", bad)
        assert code == 2 and out == ""
        assert err.startswith(f"error: Invalid value for '--http-metrics': '{bad}' is not a http://, https:// URL")
        assert len(err.strip().splitlines()) == 1
