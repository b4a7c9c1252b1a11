"""What the numbers were measured on, and with which code."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Machine", "describe"]

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Machine:
    date: str
    cores: int
    cpu: str
    ram_gib: float
    kernel: str
    python: str
    node: str
    redis: str
    load_at_start: str
    commit: str
    command: str


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _commit() -> str:
    head = _out(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = _out(["git", "status", "--porcelain", "--", "darkroom"])
    return head + (" + uncommitted changes under darkroom/ (measured as found in the work tree)" if dirty else "")


def command(bench: str = "queue") -> str:
    """The command as typed: ``make bench-<bench>`` when make started it, else the python call."""
    args = shlex.join(sys.argv[1:])
    if os.environ.get("MAKELEVEL") and not args:
        return f"make bench-{bench}"
    exe = Path(sys.executable)
    shown = exe.relative_to(REPO) if exe.is_relative_to(REPO) else exe
    return f"{shown} -m bench.{bench}.run {args}".strip()


def describe(redis_version: str, bench: str = "queue") -> Machine:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return Machine(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cores=os.cpu_count() or 0,
        cpu=_cpu_model(),
        ram_gib=_ram_gib(),
        kernel=platform.release(),
        python=platform.python_version(),
        node=_out(["node", "--version"]),
        redis=redis_version,
        load_at_start=load,
        commit=_commit(),
        command=command(bench),
    )
