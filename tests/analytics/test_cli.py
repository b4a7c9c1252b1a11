"""``darkroom analytics …``: ingest runs the ingester until SIGTERM; jobs, status and query (run
and backfill start workflows: tests/analytics/test_workflows.py)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from darkroom.analytics import catalog_location, events_table, open_catalog
from darkroom.analytics.jobs import JOBS, run
from darkroom.cli import app
from darkroom.config import Settings
from tests.analytics.conftest import Publish, make_event
from tests.analytics.history import History
from tests.analytics.test_jobs import ingest


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


def test_jobs_run_status_and_query(
    tmp_path: Path, redis_client: redis.Redis, publish: Publish, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("DARKROOM_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    catalog = open_catalog(catalog_location(Settings(home=home)))
    ingest(redis_client, catalog, publish, History(random.Random(9)).batch(30))
    cli = CliRunner()
    listed = cli.invoke(app, ["analytics", "jobs", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [j["job"] for j in json.loads(listed.output)] == [j.name for j in JOBS]

    before = cli.invoke(app, ["analytics", "status", "--home", str(home), "--json"])
    assert before.exit_code == 0, before.output
    assert {s["job"]: s["processed_snapshot_id"] for s in json.loads(before.output)}["events_clean"] is None

    for job in JOBS:  # in this process (the command runs them on a platform: test_workflows.py)
        run(job, catalog)

    after = json.loads(cli.invoke(app, ["analytics", "status", "--home", str(home), "--json"]).output)
    head = events_table(catalog).current_snapshot()
    assert head is not None
    clean = next(s for s in after if s["job"] == "events_clean")
    assert (clean["processed_snapshot_id"], clean["behind_snapshots"], clean["lag_s"]) == (head.snapshot_id, 0, 0)
    table = cli.invoke(app, ["analytics", "status", "--home", str(home)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "events_clean" in table.output and "0 snapshots, 0 rows" in table.output

    sql = "SELECT count(*) AS n FROM events_clean"
    counted = cli.invoke(app, ["analytics", "query", sql, "--home", str(home), "--json"])
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.output) == [{"n": events_table(catalog).scan().to_arrow().num_rows}]
    markup = "SELECT '[bold]x[/bold]' AS \"[red]v\""
    marked = cli.invoke(app, ["analytics", "query", markup, "--home", str(home)], env={"COLUMNS": "200"})
    assert marked.exit_code == 0 and "[bold]x[/bold]" in marked.output and "[red]v" in marked.output

    bad = cli.invoke(app, ["analytics", "query", "SELECT nope FROM events", "--home", str(home)])
    assert bad.exit_code == 1 and "DuckDB refused the query" in bad.output
    unknown = cli.invoke(app, ["analytics", "run", "daily_magic", "--home", str(home)])
    assert unknown.exit_code == 1 and "no analytics job 'daily_magic'" in unknown.output
