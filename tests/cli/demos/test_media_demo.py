"""The media demo (``darkroom demo``, what ``make demo`` runs) end to end in a temporary home:
both video profiles and a photo, every output checked."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from darkroom.cli.demos.media_demo import run_media_demo


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_media_demo_processes_both_profiles_and_a_photo(tmp_path: Path) -> None:
    out = io.StringIO()
    demo = run_media_demo(tmp_path, console=Console(file=out, width=160))
    failed = [(label, c) for label, checks in demo.checks.items() for c in checks if not c.ok]
    assert demo.ok and not failed, f"{failed}\n{out.getvalue()}"
    assert sorted(demo.checks) == ["photo", "streaming", "studio"]
    by_profile = {r.job.profile: r for r in demo.results if r.kind != "photo"}
    assert by_profile["studio"].workflow == "studio.video" and by_profile["streaming"].workflow == "streaming.video"
    chunks = by_profile["streaming"].report["chunks"]
    assert chunks["chunked"] and len(chunks["plan"]) > 1, chunks  # the demo forces chunks: the map shows
