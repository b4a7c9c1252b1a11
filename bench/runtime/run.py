"""``make bench-runtime``: Darkroom's workflow runtime against Celery canvas, in one run on one private Redis.

    python -m bench.runtime.run                     # full sizes (a few minutes on 2 cores)
    python -m bench.runtime.run --quick             # small sizes, a smoke run
    python -m bench.runtime.run --systems celery    # one system only (keys: darkroom celery)

Writes the runtime section of docs/benchmarks.md (unless --no-write) and the raw numbers to
bench/results/runtime-latest.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.console import Console

from bench.queue import peers_env, procs
from bench.queue.server import BenchRedis
from bench.runtime import darkroom_side, report
from bench.runtime.scenarios import FULL, QUICK, SCENARIOS, ScenarioResult, Sizes, gaps_ms

REPO = peers_env.BENCH.parent
SYSTEMS = ("darkroom", "celery")


@dataclass(frozen=True)
class CeleryConfig:
    """One way to run Celery's 2 worker processes; every one is tried and the best is reported."""

    pool: str  # "solo": one process per worker; "prefork": one parent and ``concurrency`` children
    processes: int  # worker commands started
    concurrency: int  # per worker command
    prefetch: int  # worker_prefetch_multiplier

    def describe(self) -> str:
        if self.pool == "solo":
            return f"{self.processes} x solo worker, prefetch x{self.prefetch}"
        return f"{self.processes} x prefork worker, concurrency {self.concurrency}, prefetch x{self.prefetch}"


CELERY_CONFIGS = (
    CeleryConfig("solo", 2, 1, 4),  # 4 is Celery's default multiplier
    CeleryConfig("solo", 2, 1, 64),
    CeleryConfig("prefork", 1, 2, 4),
    CeleryConfig("prefork", 1, 2, 64),
)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK.describe()}")
    p.add_argument("--systems", nargs="*", choices=SYSTEMS, help="only these systems")
    p.add_argument("--workflows", type=int, help=f"(a) workflows submitted at once (default {FULL.workflows})")
    p.add_argument("--steps", type=int, help=f"(a) steps per workflow (default {FULL.steps})")
    p.add_argument("--items", type=int, help=f"(b) map width (default {FULL.items})")
    p.add_argument("--repeats", type=int, help=f"runs of each scenario; the best is reported (default {FULL.repeats})")
    p.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    return p.parse_args()


def _sizes(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else FULL
    return Sizes(
        workflows=args.workflows or base.workflows,
        steps=args.steps or base.steps,
        serial_workflows=base.serial_workflows,
        items=args.items or base.items,
        repeats=args.repeats or base.repeats,
        workers=base.workers,
    )


def _peers_python() -> Path:
    """The peers' venv alone (Celery); ``peers_env.ensure()`` would also install the Node and async peers."""
    peers_env.PEERS.mkdir(parents=True, exist_ok=True)
    return peers_env._venv(
        peers_env.PEERS / "venv", peers_env.BENCH / "requirements-peers.txt", peers_env.PEERS / "install.log"
    )


def _environ(redis_url: str) -> dict[str, str]:
    out = dict(os.environ)
    out["BENCH_REDIS_URL"] = redis_url
    out["PYTHONPATH"] = str(REPO)
    out.pop("PYTHONSTARTUP", None)
    return out


def celery_versions(python: Path) -> str:
    code = (
        "import celery, kombu, redis; "
        "print(f'Celery {celery.__version__}, kombu {kombu.__version__}, redis-py {redis.__version__}')"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip() or "Celery (version unknown)"


def run_celery(
    cfg: CeleryConfig, python: Path, redis: BenchRedis, s: Sizes, work: Path, console: Console
) -> report.Trial:
    trial = report.Trial("celery", cfg.describe())
    redis.flush()
    env = _environ(redis.url)
    log = work / "celery.log"
    module = [str(python), "-m", "bench.runtime.celery_side"]
    outs = [work / f"celery-ready-{i}" for i in range(cfg.processes)]
    cmds = [
        [*module, "worker", f"--pool={cfg.pool}", f"--concurrency={cfg.concurrency}"]
        + [f"--prefetch={cfg.prefetch}", f"--ready={out}"]
        for out in outs
    ]
    drive = [*module, "drive", f"--workflows={s.workflows}", f"--steps={s.steps}"]
    drive += [f"--serial-workflows={s.serial_workflows}", f"--items={s.items}", f"--repeats={s.repeats}"]
    workers = procs.Workers(cmds, outs, env, log)
    try:
        ready, _ = workers.wait_for(len(outs), timeout_s=60.0)
        if not ready:
            trial.error = f"workers did not start; see {log}"
            return trial
        data = procs.run_json(drive, env, log, timeout_s=900.0)
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        trial.error = str(exc)
        return trial
    finally:
        workers.stop()
    for scenario in SCENARIOS:
        for d in data[scenario]:
            samples = gaps_ms(d.get("timelines", []))
            trial.runs.append(ScenarioResult(scenario, d["steps"], d["wall_s"], samples, cfg.describe()))
    console.print("  " + report.one_line(trial))
    return trial


def run_darkroom(redis: BenchRedis, s: Sizes, work: Path, console: Console) -> report.Trial:
    trial = report.Trial("darkroom", "")
    calls: list[Callable[..., ScenarioResult]] = [
        partial(darkroom_side.run_chains, redis.url, s.workflows, s.steps, in_flight=s.workflows),
        partial(darkroom_side.run_chains, redis.url, s.serial_workflows, s.steps, in_flight=1),
        partial(darkroom_side.run_map_reduce, redis.url, s.items),
    ]
    for _ in range(s.repeats):  # interleaved, as on the Celery side
        for call in calls:
            redis.flush()
            try:
                result = call(workers=s.workers, workdir=work)
            except NotImplementedError as exc:
                trial.not_run = f"not run: {exc}"
                console.print(f"[yellow]Darkroom {trial.not_run}")
                return trial
            trial.runs.append(result)
            trial.config = trial.config or result.config
    console.print("  " + report.one_line(trial))
    return trial


def main() -> None:
    args = _parse()
    s = _sizes(args)
    chosen = args.systems or list(SYSTEMS)
    console = Console(width=200)
    started = time.monotonic()
    python = _peers_python() if "celery" in chosen else None
    tmp = Path(tempfile.mkdtemp(prefix="darkroom-bench-runtime-"))
    work = tmp / "work"
    work.mkdir()
    redis = BenchRedis(tmp / "redis").start()
    try:
        res = report.Results(report.describe(redis.version()), s.describe())
        if python is not None:
            res.celery_versions = celery_versions(python)
        if "darkroom" in chosen:
            console.print(f"[bold]Darkroom[/]: {s.describe()} …")
            res.darkroom = run_darkroom(redis, s, work, console)
        else:
            res.darkroom = report.Trial("darkroom", "", not_run="not run (not selected with --systems)")
        if python is not None:
            for cfg in CELERY_CONFIGS:
                console.print(f"[bold]Celery[/] ({cfg.describe()}) …")
                res.celery.append(run_celery(cfg, python, redis, s, work, console))
        res.seconds = time.monotonic() - started
    finally:
        redis.stop()
    report.print_rich(res, console)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "runtime-latest.json").write_text(json.dumps(res.to_json(), indent=1, default=str))
    if not args.no_write:
        report.write_section(args.output, res)
        console.print(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    trials = [res.darkroom, *res.celery]
    if any(t is not None and (t.error or any(r.error for r in t.runs)) for t in trials):
        console.print(f"[yellow]kept the logs of a failed run in {work}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
