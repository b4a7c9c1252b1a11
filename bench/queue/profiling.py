"""Where a Darkroom worker's time goes per job: py-spy samples one of the two workers of a
throughput run (idle samples included: waiting for Redis is part of the cost; ``--nonblocking``
so sampling does not pause the worker).

Samples of the worker loop are split by the queue call they are in (dequeue, complete_many,
the job itself) and by layer (redis-py, Darkroom's Core, the client driver), and the hottest
leaf functions are listed. µs/job = samples ÷ sampling rate ÷ jobs that worker ran.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.queue.peers_env import Env
from bench.queue.procs import Workers, run_json, stop
from bench.queue.registry import System
from bench.queue.server import BenchRedis

__all__ = ["Profile", "profile_darkroom"]

RATE_HZ = 500
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:]+)(?::\d+)?\)$")


@dataclass
class Profile:
    jobs: int = 0
    loop_samples: int = 0
    us_per_job: float = 0.0
    by_call: dict[str, float] = field(default_factory=dict)  # µs per job
    by_layer: dict[str, float] = field(default_factory=dict)
    top_leaves: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None


def _worker_calls() -> dict[int, str]:
    """Line number in the worker loop -> the queue call made on it."""
    src = (Path(__file__).parent / "systems" / "darkroom_direct.py").read_text().splitlines()
    out: dict[int, str] = {}
    for no, text in enumerate(src, start=1):
        for needle, name in (
            ("q.dequeue(", "dequeue"),
            ("q.complete_many(", "complete_many"),
            ("rec.record(", "record"),
        ):
            if needle in text:
                out[no] = name
    return out


def _parse(frame: str) -> tuple[str, str, int]:
    m = _FRAME.match(frame)
    if not m:
        return frame, "", 0
    line = frame.rsplit(":", 1)[-1].rstrip(")")
    return m.group("func"), m.group("file"), int(line) if line.isdigit() else 0


def _layer_of(frames: list[tuple[str, str, int]]) -> str:
    files = [f for _, f, _ in frames]
    if any(f.startswith("redis/") for f in files):
        leaf = frames[-1][0]
        if "read_from_socket" in leaf or leaf.endswith(("recv", "recv_into")):
            return "redis-py: waiting for the reply (socket read)"
        return "redis-py: packing commands, parsing replies"
    if any(
        f.startswith(("darkroom/queue/core.py", "darkroom/queue/limits.py", "darkroom/queue/models.py")) for f in files
    ):
        return "darkroom Core: args, validation, reply → models"
    if any(f.startswith("darkroom/") or "/ulid/" in f or f.startswith("ulid/") for f in files):
        return "darkroom client driver"
    return "bench worker loop (no-op job, record)"


def analyse(raw: Path, jobs: int) -> Profile:
    prof = Profile(jobs=jobs)
    by_call: Counter[str] = Counter()
    by_layer: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    calls = _worker_calls()
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not count_s.isdigit():
            continue
        frames = [_parse(f) for f in stack.split(";")]
        start = next((i for i, (fn, f, _) in enumerate(frames) if fn == "worker" and "darkroom_direct" in f), None)
        if start is None:
            continue
        count = int(count_s)
        prof.loop_samples += count
        by_call[calls.get(frames[start][2], "job + loop body")] += count
        by_layer[_layer_of(frames[start + 1 :])] += count
        func, file, _ = frames[-1]
        leaves[f"{func} ({Path(file).name})"] += count
    if jobs <= 0 or prof.loop_samples == 0:
        prof.error = "no samples of the worker loop"
        return prof
    per = 1e6 / RATE_HZ / jobs
    prof.us_per_job = prof.loop_samples * per
    prof.by_call = {k: v * per for k, v in by_call.most_common()}
    prof.by_layer = {k: v * per for k, v in by_layer.most_common()}
    prof.top_leaves = [(k, v * per) for k, v in leaves.most_common(12)]
    return prof


def profile_darkroom(system: System, env: Env, redis: BenchRedis, n: int, workdir: Path) -> Profile:
    """Enqueue ``n`` jobs, drain them with 2 workers, py-spy on the first."""
    redis.flush()
    log = workdir / "profile.log"
    environ = system.environ(env, redis.url)
    run_json(system.command(env, "--url", redis.url, "setup"), environ, log, 60)
    run_json(system.command(env, "--url", redis.url, "enqueue", "--n", str(n)), environ, log, 600)
    outs = [workdir / f"profile-w{i}.txt" for i in range(2)]
    cmds = [system.command(env, "--url", redis.url, "worker", "--out", str(out)) for out in outs]
    workers = Workers(cmds, outs, environ, log)
    raw = workdir / "profile.raw"
    with log.open("a") as out:
        spy = subprocess.Popen(
            [
                str(env.py_spy),
                "record",
                "--idle",
                "--nonblocking",
                "--format",
                "raw",
                "-r",
                str(RATE_HZ),
                "-o",
                str(raw),
            ]
            + ["--pid", str(workers.procs[0].pid)],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        ok, got = workers.wait_for(n, 600)
        os.kill(spy.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
        spy.wait(30)
    finally:
        stop(spy)
        workers.stop()
    time.sleep(0.1)
    jobs = sum(1 for _ in outs[0].open()) if outs[0].exists() else 0
    if not raw.exists():
        return Profile(jobs=jobs, error=f"py-spy wrote nothing; see {log}")
    prof = analyse(raw, jobs)
    if not ok:
        prof.error = f"only {got}/{n} jobs done"
    return prof
