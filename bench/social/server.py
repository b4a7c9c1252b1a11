"""The HTTP API under test: ``darkroom http`` (uvicorn on uvloop and httptools, ``--workers`` processes) as
its own process, over the data set's PostgreSQL database and the run's Redis, with the feed design
and the rate limits set through the environment (``DARKROOM_FEED_DESIGN``,
``DARKROOM_HTTP_RATE_PER_IP``/``_PER_ACCOUNT``: one machine's load generator is one address)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from darkroom.social.feed import FeedDesign

__all__ = ["ApiServer", "cpu_s", "free_port", "tree_cpu_s"]

_UNLIMITED = "1000000000/1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """:func:`cpu_s` of ``pid`` and its live descendants (a server's worker processes)."""
    total = cpu_s(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    for child in children:
        with contextlib.suppress(OSError):  # gone meanwhile
            total += tree_cpu_s(int(child))
    return total


class ApiServer:
    """``darkroom http`` on a free port; :meth:`start` returns once it answers ``probe_token``'s feed."""

    def __init__(
        self,
        home: Path,
        database_url: str,
        redis_url: str,
        design: FeedDesign,
        *,
        workers: int = 1,
        log: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.design = design
        self.workers = workers
        self.log = log or home / f"http-{design}.log"
        self.env = {
            **os.environ,
            "DARKROOM_HOME": str(home),
            "DARKROOM_DATABASE_URL": database_url,
            "DARKROOM_REDIS_URL": redis_url,
            "DARKROOM_FEED_DESIGN": str(design),
            "DARKROOM_HTTP_RATE_PER_IP": _UNLIMITED,
            "DARKROOM_HTTP_RATE_PER_ACCOUNT": _UNLIMITED,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() first"
        return self.proc.pid

    def start(self, probe_token: str, timeout_s: float = 60.0) -> ApiServer:
        argv = [sys.executable, "-m", "darkroom.cli", "http", "--http-addr", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers)]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        give_up = time.monotonic() + timeout_s
        headers = {"Authorization": f"Bearer {probe_token}"}
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"darkroom http exited with {self.proc.returncode}; see {self.log}")
            try:
                r = httpx.get(f"http://127.0.0.1:{self.port}/v1/feed", headers=headers, timeout=10)
                if r.status_code == 200:
                    return self
                raise RuntimeError(f"GET /v1/feed answered {r.status_code}: {r.text[:300]}")
            except httpx.TransportError:
                if time.monotonic() > give_up:
                    raise RuntimeError(f"darkroom http did not answer in {timeout_s} s; see {self.log}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
