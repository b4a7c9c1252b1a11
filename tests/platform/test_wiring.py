"""The composition root: Redis from the settings or the private server it is told how to find,
and the worker and engine commands, pointed at a platform's Redis, never load the local platform."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from darkroom.config import ConfigError, Settings
from darkroom.platform.wiring import Wiring

# Runs a command in this interpreter and prints, at exit, the darkroom modules it imported.
_PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(m for m in sys.modules if m.startswith("darkroom")))))
from darkroom.cli import app
app(sys.argv[1:])
"""


def test_redis_comes_from_the_settings_else_from_the_private_server(tmp_path: Path) -> None:
    asked: list[Path] = []

    def private(home: Path) -> str | None:
        asked.append(home)
        return "unix:///private.sock" if home.name == "up" else None

    assert Wiring(Settings(home=tmp_path / "up", redis_url="redis://q:6379/0"), private_redis=private).redis_url == (
        "redis://q:6379/0"
    )
    assert asked == []  # a URL in the settings: the private server is not looked for
    assert Wiring(Settings(home=tmp_path / "up"), private_redis=private).redis_url == "unix:///private.sock"
    with pytest.raises(ConfigError, match="no Redis"):
        _ = Wiring(Settings(home=tmp_path / "down"), private_redis=private).redis_url
    with pytest.raises(ConfigError, match="no Redis"):
        _ = Wiring(Settings(home=tmp_path / "up")).redis_url  # nobody said how to find one


@pytest.mark.parametrize("command", ["worker", "engine"])
def test_a_process_pointed_at_a_platform_does_not_import_the_local_platform(
    command: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DARKROOM_HOME": str(tmp_path / "home"),
        "DARKROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'meta.db'}",
        "DARKROOM_BLOBS_URL": str(tmp_path / "blobs"),
    }
    env.pop("DARKROOM_REDIS_URL", None)
    argv = [sys.executable, "-c", _PROBE, command, "--url", redis_url, "--metrics-port", "0"]
    argv += ["--app", "darkroom.runtime.sample:registry"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = []
    # "metrics on" is logged once the command handles SIGTERM: stop it then
    for line in proc.stderr:
        lines.append(line)
        if "metrics on" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines) + err
    modules = json.loads(out.strip().splitlines()[-1])
    assert "darkroom.platform.wiring" in modules and "darkroom.runtime.workflow.engine" in modules
    assert [m for m in modules if m == "darkroom.local" or m.startswith("darkroom.local.")] == []
