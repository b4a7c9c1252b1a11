"""``darkroom analytics ingest``: the command runs the ingester until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from typer.testing import CliRunner

from darkroom.analytics import catalog_location, events_table, open_catalog
from darkroom.cli import app
from darkroom.config import Settings
from tests.analytics.conftest import Publish, make_event


def test_the_limits_are_checked_by_the_command() -> None:
    result = CliRunner().invoke(app, ["analytics", "ingest", "--max-batch-events", "0"])
    assert result.exit_code == 2
    assert "--max-batch-events" in result.output


def test_ingest_runs_until_sigterm(tmp_path: Path, redis_url: str, redis_client: redis.Redis, publish: Publish) -> None:
    events = [make_event() for _ in range(5)]
    publish(*events)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    argv = [sys.executable, "-m", "darkroom.cli", "analytics", "ingest", "--home", str(tmp_path), "--url", redis_url]
    proc = subprocess.Popen([*argv, "--max-batch-s", "0.1"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        table = events_table(open_catalog(catalog_location(Settings(home=tmp_path))))
        deadline = time.monotonic() + 60
        while table.current_snapshot() is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the table the child writes: there is nothing to wait on
            table.refresh()
        assert table.current_snapshot() is not None, "no commit within 60 s"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    rows = table.scan(selected_fields=("event_id",)).to_arrow().column(0).to_pylist()
    assert sorted(rows) == sorted(e.event_id for e in events)
    assert "ingested 5 events" in err
