"""``darkroom up`` serves the web app: the command itself, started as a person starts it (on a free
HTTP port instead of 8000, its default), answers ``GET /`` with the login page under the strict
Content-Security-Policy, and the page's stylesheet; SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from darkroom.config import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def test_the_web_app_is_served_at_the_http_address_by_darkroom_up(tmp_path: Path) -> None:
    assert Settings.from_env({}).http_addr == "127.0.0.1:8000"  # what a person opens by default
    address = f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    env |= {"DARKROOM_HOME": str(tmp_path / "home"), "DARKROOM_GRPC_ADDR": "127.0.0.1:0", "DARKROOM_METRICS_PORT": "-1"}
    argv = [sys.executable, "-m", "darkroom.cli", "up", "--workers", "0", "--http-addr", address]
    with (tmp_path / "up.log").open("w") as log:
        up = subprocess.Popen(argv, env=env | {"COLUMNS": "300"}, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert up.stdout is not None
        banner = up.stdout.readline()  # everything started
        assert f"HTTP http://{address}" in banner, banner
        give_up = time.monotonic() + 60
        while (page := _get(f"http://{address}/")) is None:  # the HTTP child starts after the banner
            assert up.poll() is None and time.monotonic() < give_up, (tmp_path / "up.log").read_text()
            time.sleep(0.1)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<h1 id="login-title">Log in</h1>' in page.text and 'action="/login"' in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp or "default-src 'self'" in csp, csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        css = re.search(r'<link rel="stylesheet" href="(/static/[0-9a-f]+/app\.css)"', page.text)
        assert css is not None
        sheet = httpx.get(f"http://{address}{css[1]}", timeout=5)
        assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    assert up.returncode == 0
