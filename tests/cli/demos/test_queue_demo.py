"""The queue demo (``darkroom queue demo``) end to end in a temporary home: it finishes, checks
out, and cleans up."""

from __future__ import annotations

import io
import multiprocessing
import shutil
from pathlib import Path

import pytest
from rich.console import Console

import darkroom.queue as dq
from darkroom.cli.demos.queue_demo import ASSETS, ENCODE, DemoConfig, run_demo
from darkroom.local.redis_server import RedisServer


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = io.StringIO()
    config = DemoConfig(encode_messages=90, assets=4, steps_per_asset=6, workers=2, timeout_s=60)
    report = run_demo(tmp_path, config=config, console=Console(file=out, width=120))
    text = out.getvalue()

    assert report.ok, text
    assert report.counts[ENCODE]["completed"] + report.counts[ENCODE]["errored"] == 90
    assert report.counts[ENCODE]["errored"] > 0  # some messages fail for good
    assert report.counts[ASSETS] == {s.value: 24 if s is dq.State.COMPLETED else 0 for s in dq.State}
    assert sum(1 for r in report.records if r["outcome"] == "failed") > report.counts[ENCODE]["errored"]
    assert report.heartbeats > 0  # the long jobs outlive their lease only by heartbeating
    assert report.events[ENCODE]["enqueued"] == 90
    assert sum(report.enqueued_via.values()) == 90 + 24
    assert "no asset ever had two messages running at once" in text

    # nothing left running: the workers are reaped and the redis-server it started is stopped
    assert multiprocessing.active_children() == []
    assert not RedisServer(root=tmp_path).ping()
    assert (tmp_path / "redis-data").is_dir()  # AOF data stays for the next run
