"""``make bench-runtime``: Darkroom's workflow runtime against Celery canvas, in one run on one private Redis.

    python -m bench.runtime.run                     # full sizes (a few minutes on 2 cores)
    python -m bench.runtime.run --quick             # small sizes, a smoke run
    python -m bench.runtime.run --systems celery    # one system only (keys: darkroom celery)
    python -m bench.runtime.run --only-work         # only the maps of real work, (c) and (d)

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
from bench.runtime import darkroom_side, report, work
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
    p.add_argument("--work-items", type=int, help="(c), (d) map width of the real-work maps (default 2,000)")
    p.add_argument("--work-repeats", type=int, default=1, help="runs of each real-work map per configuration")
    p.add_argument("--only-work", action="store_true", help="skip (a) and (b)")
    p.add_argument("--no-work", action="store_true", help="skip (c) and (d)")
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


def run_darkroom_work(
    redis: BenchRedis, s: Sizes, items: int, repeats: int, work_dir: Path, console: Console
) -> list[work.WorkRow]:
    out = []
    for cfg in work.darkroom_work(s.workers):
        parallel = work.cores() if cfg.scenario == work.CPU else work.SLOTS
        for _ in range(repeats):
            redis.flush()
            r = darkroom_side.run_work(
                redis.url,
                cfg.scenario,
                items,
                workers=s.workers,
                workdir=work_dir,
                concurrency=cfg.concurrency,
                processes=cfg.processes,
                batch=cfg.batch,
            )
            row = work.WorkRow(
                "darkroom", cfg.scenario, cfg.describe(s.workers), items, r.wall_s, r.task_s, parallel, r.error
            )
            console.print(f"  Darkroom {cfg.scenario}: {_work_line(row)}")
            out.append(row)
    return out


def run_celery_work(
    python: Path, redis: BenchRedis, items: int, repeats: int, work_dir: Path, console: Console
) -> list[work.WorkRow]:
    out = []
    env = _environ(redis.url)
    log = work_dir / "celery-work.log"
    module = [str(python), "-m", "bench.runtime.celery_side"]
    for cfg in work.CELERY_WORK:
        parallel = work.cores() if cfg.scenario == work.CPU else work.SLOTS
        redis.flush()
        outs = [
            work_dir / f"celery-work-ready-{cfg.scenario}-{cfg.prefetch}-{cfg.chunks}-{i}" for i in range(cfg.processes)
        ]
        cmds = [
            [*module, "worker", f"--pool={cfg.pool}", f"--concurrency={cfg.concurrency}"]
            + [f"--prefetch={cfg.prefetch}", f"--ready={ready}"]
            for ready in outs
        ]
        workers = procs.Workers(cmds, outs, env, log)
        try:
            ready, _ = workers.wait_for(len(outs), timeout_s=60.0)
            for _ in range(repeats):
                if not ready:
                    raise RuntimeError(f"workers did not start; see {log}")
                data = procs.run_json(
                    [*module, "work", f"--scenario={cfg.scenario}", f"--items={items}", f"--chunks={cfg.chunks}"],
                    env,
                    log,
                    timeout_s=900.0,
                )
                row = work.WorkRow(
                    "celery", cfg.scenario, cfg.describe(), items, data["wall_s"], data["task_s"], parallel
                )
                console.print(f"  Celery {cfg.scenario} ({cfg.describe()}): {_work_line(row)}")
                out.append(row)
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
            out.append(work.WorkRow("celery", cfg.scenario, cfg.describe(), items, 0.0, 0.0, parallel, str(exc)))
        finally:
            workers.stop()
    return out


def _work_line(row: work.WorkRow) -> str:
    if row.error:
        return f"⚠ {row.error}"
    ideal = f"ideal {row.ideal_s:.2f} s ({row.task_s:.1f} task s / {row.parallel})"
    return f"wall {row.wall_s:.2f} s, {ideal}: {row.ratio:.2f}x"


def main() -> None:
    args = _parse()
    s = _sizes(args)
    chosen = args.systems or list(SYSTEMS)
    console = Console(width=200)
    started = time.monotonic()
    python = _peers_python() if "celery" in chosen else None
    tmp = Path(tempfile.mkdtemp(prefix="darkroom-bench-runtime-"))
    workdir = tmp / "work"
    workdir.mkdir()
    redis = BenchRedis(tmp / "redis").start()
    try:
        res = report.Results(report.describe(redis.version()), s.describe())
        if python is not None:
            res.celery_versions = celery_versions(python)
        if args.only_work:
            res.darkroom = report.Trial("darkroom", "", not_run="not run (--only-work)")
        elif "darkroom" in chosen:
            console.print(f"[bold]Darkroom[/]: {s.describe()} …")
            res.darkroom = run_darkroom(redis, s, workdir, console)
        else:
            res.darkroom = report.Trial("darkroom", "", not_run="not run (not selected with --systems)")
        if python is not None and not args.only_work:
            for cfg in CELERY_CONFIGS:
                console.print(f"[bold]Celery[/] ({cfg.describe()}) …")
                res.celery.append(run_celery(cfg, python, redis, s, workdir, console))
        if not args.no_work:
            items = args.work_items or (200 if args.quick else 2_000)
            res.work_items = items
            if "darkroom" in chosen:
                console.print(f"[bold]Darkroom[/]: maps of {items:,} real items …")
                res.work += run_darkroom_work(redis, s, items, args.work_repeats, workdir, console)
            if python is not None:
                console.print(f"[bold]Celery[/]: maps of {items:,} real items …")
                res.work += run_celery_work(python, redis, items, args.work_repeats, workdir, console)
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
    failed = any(t is not None and (t.error or any(r.error for r in t.runs)) for t in trials)
    if failed or any(r.error for r in res.work):
        console.print(f"[yellow]kept the logs of a failed run in {workdir}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
