"""Enqueue-to-start latency at a fixed rate: one producer process enqueues one job at a time,
the 2 workers of the throughput phase run them; latency = job start - the producer's clock
just before its enqueue call. The first half second after the producer's first job is warm-up.

The same phase run at a rate above what the system can carry measures its *sustained peak*: the
completion rate while the producer enqueues at the same time (``completed_per_s``). On a small
machine the producer and the workers share the cores, so this is lower than the rate at which the
workers drain a backlog alone, and it is the load the system can actually carry.
"""

from __future__ import annotations

import math
import subprocess
import time
from dataclasses import dataclass

import redis

from bench.queue.peers_env import Env
from bench.queue.procs import run_json
from bench.queue.recorder import read_records
from bench.queue.server import wait_aof_rewrite
from bench.queue.stats import percentile, rate_between
from bench.queue.throughput import Run

__all__ = ["Latency", "measure"]

WARMUP_S = 0.5


@dataclass
class Latency:
    target_per_s: float
    achieved_per_s: float = math.nan
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    jobs_per_call: float = math.nan  # > 1 when the producer fell behind and sent in bulk
    completed_per_s: float = math.nan  # completions/s of the phase's jobs (10%-90%)
    samples: int = 0
    forks: int = 0  # forks of redis-server during the phase (AOF rewrites: each stalls the server)
    error: str | None = None


def measure(run: Run, env: Env, server: redis.Redis, rate: float, seconds: float) -> Latency:
    """One phase at ``rate`` jobs/s for ``seconds``; ``server`` is the bench's redis-server (for its forks)."""
    result = Latency(rate)
    if run.workers is None or not math.isfinite(rate) or rate <= 0:
        result.error = "no workers"
        return result
    base = run.workers.count()
    # An AOF rewrite the previous phase (a flood) set off would fork and load this one: wait it out.
    wait_aof_rewrite(server)
    forks = int(server.info("stats")["total_forks"])
    started = time.time()
    try:
        cmd = run.system.command(env, "--url", run.url, "produce", "--rate", f"{rate:.1f}", "--seconds", str(seconds))
        report = run_json(cmd, run.env, run.log, seconds * 3 + 60)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        result.error = str(exc)
        return result
    sent = int(report["sent"])
    result.achieved_per_s = sent / float(report["seconds"])
    result.jobs_per_call = sent / max(1, int(report.get("calls", sent)))
    ok, got = run.workers.wait_for(base + sent, 30 + seconds)
    if not ok:
        result.error = f"{got - base}/{sent} jobs ran"
    result.forks = int(server.info("stats")["total_forks"]) - forks
    phase = [(enq, start, done) for enq, start, done in read_records(run.workers.outs) if enq >= started]
    first = min((enq for enq, _, _ in phase), default=started)
    lat = [(start - enq) * 1000.0 for enq, start, _ in phase if enq >= first + WARMUP_S]
    result.completed_per_s = rate_between([done for _, _, done in phase])
    result.samples = len(lat)
    result.p50_ms = percentile(lat, 50)
    result.p99_ms = percentile(lat, 99)
    return result
