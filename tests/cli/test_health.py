"""``darkroom health`` against real redis-servers: JSON, the table, exit statuses, no Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from darkroom.cli import app
from darkroom.observability import CHECK_NAMES
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
    code, out, _ = _health("--url", health.url, "--json")
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
    code, out, _ = _health("--url", health.url)
    assert code == 2
    assert "Redis health: critical" in out and "slowlog" in out
    assert "[bold]x[/bold]" in out.replace("\n", "").replace("│", "").replace(" ", "")


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
