"""Darkroom's chain scenarios of ``make bench-runtime`` alone, with the CPU each step costs.

    python -m bench.runtime.chains                  # 3 rounds of (a) all at once and (a) one at a time
    python -m bench.runtime.chains --rounds 5 --json out.json

Runs ``darkroom_side.run_chains`` on a private Redis (flushed between runs) and prints, per run:
steps/s, the per-step overhead p50, and CPU per step: the worker and engine processes' CPU
during the wall time (``/proc``, 10 ms resolution) and Redis's command time (``INFO
commandstats``), each divided by the steps. On a shared machine CPU per step is the steadier
measure; compare trees by running this module from each, back to back.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from bench.queue.server import BenchRedis
from bench.runtime import darkroom_side
from bench.runtime.scenarios import FULL


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workflows", type=int, default=FULL.workflows, help="(a) all at once: workflows")
    p.add_argument("--serial", type=int, default=FULL.serial_workflows, help="(a) one at a time: workflows")
    p.add_argument("--steps", type=int, default=FULL.steps)
    p.add_argument("--label", default="")
    p.add_argument("--json", type=Path, help="append one JSON line per run here")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="darkroom-bench-chains-"))
    redis = BenchRedis(tmp / "redis").start()
    rows: dict[str, list[dict[str, float]]] = {}
    try:
        for _ in range(args.rounds):
            for n, in_flight in ((args.workflows, args.workflows), (args.serial, 1)):
                redis.flush()
                before = redis.counters()
                r = darkroom_side.run_chains(
                    redis.url, n, args.steps, in_flight=in_flight, workers=FULL.workers, workdir=tmp / "work"
                )
                spent = redis.counters() - before
                if r.error:
                    print(f"{r.scenario}: {r.error}")
                    continue
                row = {
                    "steps_per_s": r.steps_per_s,
                    "p50_ms": r.p50_ms,
                    "cpu_us_per_step": (r.cpu_s or 0.0) * 1e6 / r.steps,
                    "redis_us_per_step": sum(spent.usec.values()) / r.steps,
                }
                rows.setdefault(r.scenario, []).append(row)
                line = ", ".join(f"{k} {v:,.2f}" for k, v in row.items())
                print(f"{args.label} {r.scenario}: {line}", flush=True)
                if args.json:
                    with args.json.open("a") as fh:
                        fh.write(json.dumps({"label": args.label, "scenario": r.scenario, **row}) + "\n")
    finally:
        redis.stop()
    for scenario, runs in rows.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{args.label} {scenario} median of {len(runs)}: " + ", ".join(f"{k} {v:,.2f}" for k, v in med.items()))


if __name__ == "__main__":
    main()
