"""Child processes of the benchmark: one-shot commands and long-running workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Workers", "run_json", "stop", "wait_port"]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Wait until a server child accepts TCP connections on 127.0.0.1:``port``."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # readiness probe of a child process
    raise RuntimeError(f"server did not listen on {port} within {timeout_s:g}s")


def run_json(cmd: Sequence[str], env: dict[str, str], log: Path, timeout_s: float) -> dict[str, Any]:
    """Run a command to completion; its last stdout line is a JSON report."""
    with log.open("a") as err:
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=err, timeout=timeout_s, check=False)
    lines = done.stdout.decode().strip().splitlines()
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[-3:]} exited with {done.returncode}; see {log}")
    return json.loads(lines[-1]) if lines else {}


def stop(proc: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
    """Stop a child started in its own session, with its own children (by process group id)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Workers:
    """N worker processes of one system, each appending job records to its own file."""

    def __init__(self, cmds: list[list[str]], outs: list[Path], env: dict[str, str], log: Path) -> None:
        self.outs = outs
        self._offsets = [0] * len(outs)
        self._count = 0
        for out in outs:
            out.write_text("")
        self._log = log.open("a")
        self.procs = [
            subprocess.Popen(cmd, env=env, stdout=self._log, stderr=self._log, start_new_session=True) for cmd in cmds
        ]

    def count(self) -> int:
        """Jobs recorded so far (reads only what was appended since the last call)."""
        for i, out in enumerate(self.outs):
            with out.open("rb") as fh:
                fh.seek(self._offsets[i])
                chunk = fh.read()
            complete = chunk.rfind(b"\n") + 1
            self._count += chunk.count(b"\n", 0, complete)
            self._offsets[i] += complete
        return self._count

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def wait_for(self, target: int, timeout_s: float) -> tuple[bool, int]:
        """Poll until ``target`` jobs are recorded; False on timeout or a dead worker."""
        give_up = time.monotonic() + timeout_s
        while True:
            n = self.count()
            if n >= target:
                return True, n
            if time.monotonic() > give_up or not self.alive():
                return False, n
            time.sleep(0.02)  # polling files the workers append to; nothing to wait on

    def stop(self) -> None:
        for proc in self.procs:
            stop(proc)
        self._log.close()
