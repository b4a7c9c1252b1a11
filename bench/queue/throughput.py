"""End-to-end throughput: enqueue N no-op jobs, then drain them with exactly 2 worker processes.

The enqueue rate is N over the enqueue command's own wall time (bulk APIs where a system has
them). The processing rate is taken over the 10%-90% completions, so worker start-up and the
tail do not count. Redis commands and CPU per job cover both halves.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.queue.peers_env import Env
from bench.queue.procs import Workers, run_json, stop, wait_port
from bench.queue.recorder import read_records
from bench.queue.registry import System, grpc_server_command
from bench.queue.server import BenchRedis
from bench.queue.stats import rate_between

__all__ = ["Run", "Throughput", "start"]

WORKERS = 2


@dataclass
class Throughput:
    n: int
    enqueue_per_s: float = math.nan
    process_per_s: float = math.nan
    commands_per_job: float = math.nan
    cpu_us_per_job: float = math.nan
    top_commands: str = ""
    error: str | None = None


@dataclass
class Run:
    """A system with its workers still running (the latency phases reuse them)."""

    system: System
    url: str
    env: dict[str, str]
    workers: Workers | None
    server: subprocess.Popen[bytes] | None
    log: Path

    def close(self) -> None:
        if self.workers is not None:
            self.workers.stop()
        if self.server is not None:
            stop(self.server)


def _grpc_server(
    env: Env, redis: BenchRedis, environ: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    from bench.queue.server import _free_port

    port = _free_port()
    with log.open("a") as out:
        proc = subprocess.Popen(
            grpc_server_command(env, redis.url, port), env=environ, stdout=out, stderr=out, start_new_session=True
        )
    try:
        wait_port(port, proc)
    except RuntimeError:
        stop(proc)
        raise
    return proc, f"grpc://127.0.0.1:{port}"


def start(
    system: System, env: Env, redis: BenchRedis, *, n: int, workdir: Path, timeout_s: float
) -> tuple[Run, Throughput]:
    redis.flush()
    log = workdir / f"{system.key}.log"
    environ = system.environ(env, redis.url)
    server = None
    url = redis.url
    if system.grpc:
        try:
            server, url = _grpc_server(env, redis, environ, log)
        except RuntimeError as exc:
            return Run(system, url, environ, None, None, log), Throughput(n, error=str(exc))
    result = Throughput(n)
    run = Run(system, url, environ, None, server, log)
    try:
        run_json(system.command(env, "--url", url, "setup"), environ, log, 60)
        before = redis.counters()
        report = run_json(system.command(env, "--url", url, "enqueue", "--n", str(n)), environ, log, timeout_s)
        result.enqueue_per_s = n / float(report["seconds"])
        outs = [workdir / f"{system.key}-w{i}.txt" for i in range(WORKERS)]
        cmds = [system.command(env, "--url", url, "worker", "--out", str(out)) for out in outs]
        run.workers = Workers(cmds, outs, environ, log)
        ok, got = run.workers.wait_for(n, timeout_s)
        delta = redis.counters() - before
        if not ok:
            result.error = f"only {got}/{n} jobs done in {timeout_s:.0f}s; see {log.name}"
        records = read_records(outs)
        result.process_per_s = rate_between([done for _, _, done in records])
        result.commands_per_job = delta.total_calls / n
        result.cpu_us_per_job = delta.cpu_s * 1e6 / n
        top = sorted(delta.calls.items(), key=lambda kv: -kv[1])[:6]
        result.top_commands = ", ".join(f"{k} {v / n:.1f}" for k, v in top)
    except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as exc:
        result.error = str(exc)
    return run, result
