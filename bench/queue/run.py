"""``make bench-queue``: Darkroom's queue against its peers, in one run on one private Redis.

    python -m bench.queue.run            # full run (~20 min on 2 cores)
    python -m bench.queue.run --quick    # smoke version (~3-4 min)
    python -m bench.queue.run --systems darkroom bullmq --skip flatness

Writes the queue section of docs/benchmarks.md (unless --no-write) and the raw numbers to
bench/results/queue-latest.json (git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench.queue import ceiling, flatness, latency, peers_env, profiling, report, throughput
from bench.queue.machine import describe
from bench.queue.registry import by_key
from bench.queue.results import Results, SystemResult
from bench.queue.server import BenchRedis

REPO = peers_env.BENCH.parent
STAGES = ("systems", "ceiling", "profile", "flatness")


@dataclasses.dataclass(frozen=True)
class Settings:
    n: int
    fixed_rate: float
    latency_s: float
    ceiling_messages: int
    flat_sizes: list[int]
    flat_steps: int
    profile_n: int

    def describe(self) -> str:
        sizes = "/".join(f"{s:,}" for s in self.flat_sizes)
        return (
            f"N = {self.n:,} jobs per system; latency phases {self.latency_s:g} s each at {self.fixed_rate:g}/s, "
            "¼ and ½ peak; "
            f"ceiling {self.ceiling_messages:,} messages per batch size; flatness depths {sizes}, "
            f"{self.flat_steps} steps each; profile over {self.profile_n:,} jobs"
        )


QUICK = Settings(3_000, 200.0, 3.0, 20_000, [1_000, 10_000], 20, 20_000)
# 300 steps per depth: with fewer, the medians move by more than the 20% the flatness target allows
FULL = Settings(20_000, 200.0, 8.0, 200_000, [1_000, 10_000, 100_000, 1_000_000], 300, 100_000)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every stage")
    p.add_argument("--systems", nargs="*", help="only these systems (keys: darkroom darkroom-grpc bullmq …)")
    p.add_argument("--skip", nargs="*", default=[], choices=STAGES, help="stages to leave out")
    p.add_argument("--n", type=int, help="jobs per system for the throughput phase")
    p.add_argument("--rate", type=float, help="the fixed latency rate, jobs/s (default 200)")
    p.add_argument("--latency-seconds", type=float)
    p.add_argument("--ceiling-messages", type=int)
    p.add_argument("--flat-sizes", type=int, nargs="*", help="pending depths, e.g. 1000 10000 100000 1000000")
    p.add_argument("--flat-steps", type=int)
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    return p.parse_args()


def _settings(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else FULL
    return Settings(
        n=args.n or base.n,
        fixed_rate=args.rate or base.fixed_rate,
        latency_s=args.latency_seconds or base.latency_s,
        ceiling_messages=args.ceiling_messages or base.ceiling_messages,
        flat_sizes=args.flat_sizes or base.flat_sizes,
        flat_steps=args.flat_steps or base.flat_steps,
        profile_n=base.profile_n,
    )


def _systems(
    res: Results,
    env: peers_env.Env,
    redis: BenchRedis,
    s: Settings,
    *,
    keys: list[str] | None,
    work: Path,
    console: Console,
) -> None:
    for system in by_key(keys):
        result = SystemResult(system)
        res.systems.append(result)
        result.pending = system.pending_reason()
        if result.pending:
            console.print(f"[yellow]{system.label}: {result.pending}")
            continue
        console.print(f"[bold]{system.label}[/]: enqueue {s.n:,}, process with 2 workers …")
        run, result.throughput = throughput.start(
            system, env, redis, n=s.n, workdir=work, timeout_s=max(120.0, s.n / 50)
        )
        try:
            t = result.throughput
            console.print(
                f"  enqueue {t.enqueue_per_s:,.0f}/s, process {t.process_per_s:,.0f}/s"
                + (f" ⚠ {t.error}" if t.error else "")
            )
            if t.error is None:
                result.fixed = latency.measure(run, env, redis.client, s.fixed_rate, s.latency_s)
                fixed = result.fixed
                console.print(f"  latency @ {s.fixed_rate:g}/s: {_lat(fixed)}")
                result.quarter = latency.measure(run, env, redis.client, t.process_per_s / 4, s.latency_s)
                console.print(f"  latency @ ¼ peak ({result.quarter.achieved_per_s:,.0f}/s): {_lat(result.quarter)}")
                result.half = latency.measure(run, env, redis.client, t.process_per_s / 2, s.latency_s)
                console.print(
                    f"  latency @ ½ peak ({result.half.achieved_per_s:,.0f}/s of {t.process_per_s / 2:,.0f}/s): "
                    f"{_lat(result.half)}"
                )
                # Twice what the workers drain alone saturates them (they drain less with the producer
                # running); more would only leave a backlog that takes minutes to clear on slow systems.
                flood = 2 * t.process_per_s
                result.sustained = latency.measure(run, env, redis.client, flood, s.latency_s)
                peak = result.sustained.completed_per_s
                console.print(
                    f"  sustained peak (producer flat out): {peak:,.0f} jobs/s completed"
                    + (f" ⚠ {result.sustained.error}" if result.sustained.error else "")
                )
                if math.isfinite(peak) and peak > 0:
                    result.half_sustained = latency.measure(run, env, redis.client, peak / 2, s.latency_s)
                    console.print(
                        f"  latency @ ½ sustained ({result.half_sustained.achieved_per_s:,.0f}/s): "
                        f"{_lat(result.half_sustained)}"
                    )
        finally:
            run.close()


def _lat(lat: latency.Latency) -> str:
    forks = f" ({lat.forks} redis fork(s) during the phase)" if lat.forks else ""
    return f"p50 {lat.p50_ms:.2f} ms, p99 {lat.p99_ms:.2f} ms{forks}"


def main() -> None:
    args = _parse()
    s = _settings(args)
    console = Console(width=200)
    started = time.monotonic()
    env = peers_env.ensure()
    if shutil.which("redis-benchmark") is None:
        raise SystemExit("redis-benchmark is missing (it ships with the redis-server package)")
    tmp = Path(tempfile.mkdtemp(prefix="darkroom-bench-"))
    work = tmp / "work"
    work.mkdir()
    redis = BenchRedis(tmp / "redis").start()
    try:
        res = Results(describe(redis.version()), s.describe())
        if "systems" not in args.skip:
            _systems(res, env, redis, s, keys=args.systems, work=work, console=console)
        if "ceiling" not in args.skip:
            console.print("[bold]ceiling[/]: the scripts via redis-benchmark …")
            res.ceilings = [ceiling.measure(redis, s.ceiling_messages, b) for b in (1, 100)]
            res.prelude = ceiling.prelude_cost(redis)
        if "profile" not in args.skip:
            console.print(f"[bold]profile[/]: py-spy on a Darkroom worker over {s.profile_n:,} jobs …")
            res.profile = profiling.profile_darkroom(by_key(["darkroom"])[0], env, redis, s.profile_n, work)
        if "flatness" not in args.skip:
            for kind in flatness.KINDS:
                console.print(f"[bold]flatness[/]: {kind.name}, depths {s.flat_sizes} …")
                res.flatness.append(flatness.measure(redis, kind, s.flat_sizes, s.flat_steps))
            console.print(f"[bold]flatness[/]: {flatness.CONTROL}, depths {s.flat_sizes} …")
            res.flatness.append(flatness.measure_control(redis, s.flat_sizes, s.flat_steps))
        res.seconds = time.monotonic() - started
    finally:
        redis.stop()
    report.print_rich(res, console)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "queue-latest.json").write_text(json.dumps(dataclasses.asdict(res), indent=1, default=str))
    if not args.no_write:
        report.write_section(args.output, res)
        console.print(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
