"""The social scenario of ``darkroom demo`` end to end over HTTP, on a private platform with its
social parts (the runner, the HTTP API): every step checks out; the demo's home is made afresh at
each run, but a folder it did not make is left alone."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from darkroom.cli.demos.social_demo import MARKER, DemoHomeInUse, run_social_demo

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.mark.slow  # about 30 s: a platform's processes start, and a clip runs the streaming profile
def test_the_social_scenario_checks_out_over_http(tmp_path: Path) -> None:
    home = tmp_path / "social"
    home.mkdir()
    (home / MARKER).touch()
    (home / "left over").write_text("from an earlier run")
    out = io.StringIO()
    result = run_social_demo(home, console=Console(file=out, width=200))
    failed = [c for c in result.checks if not c.ok]
    assert result.ok and not failed, f"{failed}\n{out.getvalue()}"
    assert len(result.checks) == 19
    shown = out.getvalue()
    assert "post_daily_stats after @cleo's like" in shown and "post_daily_stats: incremental" in shown
    assert not (home / "left over").exists() and (home / MARKER).is_file()
    assert "OK: every step of the social scenario checks out" in out.getvalue()


def test_a_folder_the_demo_did_not_make_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(DemoHomeInUse, match="did not make"):
        run_social_demo(tmp_path, console=Console(file=io.StringIO()))
    assert (tmp_path / "mine.txt").read_text() == "keep me"
