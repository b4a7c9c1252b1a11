"""The runtime benchmark's results: Rich tables (stdout) and its section of docs/benchmarks.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.queue import machine
from bench.queue import report as queue_report
from bench.queue.report import _caveat, _n, _table
from bench.queue.results import Target, verdict
from bench.runtime import work as real_work
from bench.runtime.scenarios import CHAINS, CHAINS_SERIAL, MAP_REDUCE, SCENARIOS, ScenarioResult, best

__all__ = ["Results", "Target", "Trial", "describe", "markdown", "one_line", "print_rich", "targets", "write_section"]

START = "<!-- bench-runtime:start (written by `make bench-runtime`; edits inside are overwritten) -->"
END = "<!-- bench-runtime:end -->"
LABELS = {"darkroom": "Darkroom", "celery": "Celery canvas"}
SCENARIO_LABELS = {
    CHAINS: "(a) chains, all at once",
    CHAINS_SERIAL: "(a) chains, one at a time",
    MAP_REDUCE: "(b) map + reduce",
}
OVERHEAD_TARGET_MS = 2.0
MAP_REDUCE_TARGET_X = 3.0


@dataclass
class Trial:
    """One system, in one configuration, through every scenario."""

    system: str  # "darkroom" | "celery"
    config: str
    runs: list[ScenarioResult] = field(default_factory=list)  # every run of every scenario
    error: str | None = None
    not_run: str | None = None

    def get(self, scenario: str) -> ScenarioResult | None:
        """The best run of ``scenario``."""
        return best(r for r in self.runs if r.scenario == scenario)

    @property
    def results(self) -> list[ScenarioResult]:
        """The best run of each scenario, and the failed scenarios' first error."""
        out = []
        for scenario in SCENARIOS:
            runs = [r for r in self.runs if r.scenario == scenario]
            chosen = best(runs) or next(iter(runs), None)
            if chosen is not None:
                out.append(chosen)
        return out

    def spread(self, scenario: str) -> str:
        """Slowest-fastest steps/s over the runs of ``scenario``, when there was more than one."""
        rates = [r.steps_per_s for r in self.runs if r.scenario == scenario and not r.error]
        return f"; runs {_n(min(rates))}-{_n(max(rates))}" if len(rates) > 1 else ""


@dataclass
class Results:
    machine: machine.Machine
    sizes: str
    darkroom: Trial | None = None
    celery: list[Trial] = field(default_factory=list)
    celery_versions: str = ""
    seconds: float = 0.0
    work: list[real_work.WorkRow] = field(default_factory=list)  # (c), (d): every run
    work_items: int = 0

    def to_json(self) -> dict[str, object]:
        def trial(t: Trial) -> dict[str, object]:
            return {**dataclasses.asdict(t), "runs": [r.to_json() for r in t.runs]}

        return {
            "machine": dataclasses.asdict(self.machine),
            "sizes": self.sizes,
            "darkroom": trial(self.darkroom) if self.darkroom else None,
            "celery": [trial(t) for t in self.celery],
            "celery_versions": self.celery_versions,
            "seconds": self.seconds,
            "work": [r.to_json() for r in self.work],
        }


def describe(redis_version: str) -> machine.Machine:
    return machine.describe(redis_version, bench="runtime")


def _best(trials: list[Trial], scenario: str) -> ScenarioResult | None:
    """Celery's best configuration for one scenario: fastest, or lowest median overhead unloaded."""
    return best(r for t in trials if (r := t.get(scenario)) is not None)


def _cells(r: ScenarioResult) -> list[str]:
    overhead = f"{r.p50_ms:.2f} / {r.p99_ms:.2f}" if r.overhead_ms else "-"
    return [f"{r.steps:,}", f"{r.wall_s:.2f}", _n(r.steps_per_s), overhead]


HEAD = ["system", "scenario", "steps", "wall s", "steps/s", "per-step overhead p50 / p99 ms"]


def _rows(res: Results) -> list[list[str]]:
    rows: list[list[str]] = []
    dr = res.darkroom
    if dr is None or dr.not_run or dr.error:
        why = "not run" if dr is None else (dr.not_run or f"⚠ {dr.error}")
        rows.append(["Darkroom", "all", why, "", "", ""])
    else:
        for r in dr.results:
            label = f"Darkroom ({r.config})" if r.config else "Darkroom"
            rows.append([label, SCENARIO_LABELS[r.scenario], *(_cells(r) if not r.error else [f"⚠ {r.error}"] * 4)])
    if not res.celery:
        rows.append(["Celery canvas", "all", "not run (not selected with --systems)", "", "", ""])
    for scenario in SCENARIOS:
        best = _best(res.celery, scenario)
        if best is not None:
            rows.append([f"Celery canvas, best ({best.config})", SCENARIO_LABELS[scenario], *_cells(best)])
        elif res.celery:
            errors = "; ".join(t.error for t in res.celery if t.error) or "no result"
            rows.append(["Celery canvas", SCENARIO_LABELS[scenario], f"⚠ {errors}", "", "", ""])
    return rows


def _trial_rows(res: Results) -> list[list[str]]:
    rows = []
    for t in res.celery:
        if t.error:
            rows.append([t.config, f"⚠ {t.error}", "", ""])
            continue

        def cell(scenario: str, fmt: Callable[[ScenarioResult], str], t: Trial = t) -> str:
            r = t.get(scenario)
            return fmt(r) + t.spread(scenario) if r is not None else "-"

        rows.append(
            [
                t.config,
                cell(CHAINS, lambda r: f"{_n(r.steps_per_s)} steps/s; {r.p50_ms:.1f} / {r.p99_ms:.1f} ms"),
                cell(CHAINS_SERIAL, lambda r: f"{_n(r.steps_per_s)} steps/s; {r.p50_ms:.2f} / {r.p99_ms:.2f} ms"),
                cell(MAP_REDUCE, lambda r: f"{_n(r.steps_per_s)} steps/s ({r.wall_s:.2f} s)"),
            ]
        )
    return rows


TRIAL_HEAD = ["Celery configuration", "(a) all at once", "(a) one at a time", "(b) map + reduce"]


def targets(res: Results) -> list[Target]:
    dr = res.darkroom
    serial = dr.get(CHAINS_SERIAL) if dr else None
    loaded = dr.get(CHAINS) if dr else None
    out = [
        Target(
            "Darkroom per-step overhead, median (a), one workflow at a time",
            f"≤ {OVERHEAD_TARGET_MS:g} ms",
            f"{serial.p50_ms:.2f} ms (p99 {serial.p99_ms:.2f} ms)" if serial else "n/a (Darkroom not run)",
            serial.p50_ms <= OVERHEAD_TARGET_MS if serial else None,
        ),
        Target(
            "Darkroom step gap, median (a), all workflows at once (queueing included; for reference)",
            "-",
            f"{loaded.p50_ms:.1f} ms at {_n(loaded.steps_per_s)} steps/s" if loaded else "n/a (Darkroom not run)",
            None,
        ),
    ]
    ours = dr.get(MAP_REDUCE) if dr else None
    theirs = _best(res.celery, MAP_REDUCE)
    name, goal = "Darkroom (b) throughput vs Celery's best", f"≥ {MAP_REDUCE_TARGET_X:g}x"
    if ours and theirs:
        x = ours.steps_per_s / theirs.steps_per_s
        measured = f"{x:.2f}x ({_n(ours.steps_per_s)} vs {_n(theirs.steps_per_s)} steps/s)"
        out.append(Target(name, goal, measured, x >= MAP_REDUCE_TARGET_X))
    else:
        out.append(Target(name, goal, f"n/a ({'Darkroom' if not ours else 'Celery'} not run)", None))
    for scenario in (CHAINS, CHAINS_SERIAL):
        mine, best_celery = (dr.get(scenario) if dr else None), _best(res.celery, scenario)
        label = f"Darkroom ahead of Celery's best, {SCENARIO_LABELS[scenario]}"
        if mine is None or best_celery is None:
            out.append(Target(label, "ahead", "n/a (not run)", None))
        elif scenario == CHAINS_SERIAL:
            measured = f"p50 {mine.p50_ms:.2f} vs {best_celery.p50_ms:.2f} ms"
            out.append(Target(label, "lower p50", measured, mine.p50_ms < best_celery.p50_ms))
        else:
            measured = f"{_n(mine.steps_per_s)} vs {_n(best_celery.steps_per_s)} steps/s"
            out.append(Target(label, "more steps/s", measured, mine.steps_per_s > best_celery.steps_per_s))
    for scenario in real_work.SCENARIOS:
        runs = [r for r in res.work if r.system == "darkroom" and r.scenario == scenario and not r.error]
        label = f"Darkroom {real_work.LABELS[scenario]}: wall time vs ideal"
        goal = f"≤ {real_work.TARGET_X:g}x"
        if not runs:
            out.append(Target(label, goal, "n/a (not run)", None))
            continue
        r = min(runs, key=lambda r: r.ratio)
        out.append(Target(label, goal, f"{r.ratio:.2f}x ({r.wall_s:.2f} s vs {r.ideal_s:.2f} s)", bool(r.passed)))
    return out


def one_line(t: Trial) -> str:
    if t.error or t.not_run:
        return f"⚠ {t.error or t.not_run}"
    parts = []
    for r in t.results:
        extra = f", overhead p50 {r.p50_ms:.2f} ms" if r.overhead_ms else ""
        parts.append(f"{r.scenario}: {_n(r.steps_per_s)} steps/s{extra}" + (f" ⚠ {r.error}" if r.error else ""))
    return "; ".join(parts)


def print_rich(res: Results, console: Console | None = None) -> None:
    console = console or Console(width=200)
    table = Table(title="Workflow runtime: no-op steps, 2 worker processes each, one Redis")
    for h in HEAD:
        table.add_column(h, overflow="fold")
    for row in _rows(res):
        table.add_row(*row)
    console.print(table)
    if res.celery:
        ct = Table(title="Celery configurations tried: best run (steps/s; per-step overhead p50 / p99); runs' range")
        for h in TRIAL_HEAD:
            ct.add_column(h, overflow="fold")
        for row in _trial_rows(res):
            ct.add_row(*row)
        console.print(ct)
    if res.work:
        goal = f"≤ {real_work.TARGET_X}x"
        wt = Table(title=f"Maps of real work: wall time against the ideal (task time / cores or slots), {goal}")
        for h in real_work.head():
            wt.add_column(h, overflow="fold")
        for row in real_work.rows(res.work):
            wt.add_row(*row)
        console.print(wt)
    tt = Table(title="Targets")
    for h in ("target", "goal", "measured", "result"):
        tt.add_column(h)
    for t in targets(res):
        tt.add_row(t.name, t.goal, t.measured, verdict(t.passed))
    console.print(tt)


def markdown(res: Results) -> str:
    m = res.machine
    lines = [
        START,
        "## Workflow runtime: Darkroom vs Celery canvas (`make bench-runtime`)",
        "",
        f"- **Date:** {m.date}; total run time {res.seconds / 60:.1f} min",
        f"- **Command:** `{m.command}` ({res.sizes})",
        f"- **Machine:** {m.cores} cores ({m.cpu}), {m.ram_gib:.0f} GiB RAM, Linux {m.kernel}; "
        f"load average at start {m.load_at_start}",
        f"- **Software:** redis-server {m.redis} (private, password, AOF appendfsync everysec, TCP 127.0.0.1); "
        f"Python {m.python}; {res.celery_versions or 'Celery not run'}",
        f"- **Darkroom code:** {m.commit}",
        f"- **Caveat:** {_caveat(m.load_at_start)} Compare rows of one run only.",
        "",
        "No-op steps; every system gets 2 worker processes and the same Redis, flushed between systems and "
        "configurations. Wall time runs from just before the first submit until the harness has seen the last "
        "workflow finish (workers already started and warmed up). Per-step overhead = a step's start minus the "
        "previous step's end in the same workflow, both read with `time.time()` inside the step functions: the "
        "whole path from one function returning to the next one starting. With 100 workflows at once and 2 "
        "workers, a step also queues behind the other workflows' ready steps, so that gap is about "
        "(workflows in flight) / (steps/s); the one-at-a-time run measures the overhead without queueing, "
        "and the target is judged on it.",
        "",
        "Darkroom: each step is recorded in the SQLite metadata database (task row, step and run state) before "
        "the next one starts. Workers advance the runs of the tasks they finish under the run's tick lease "
        "(`Worker(engine=...)`, docs/runtime.md); the engine process takes each run's first pass and any tick a "
        "worker did not claim.",
        "",
        "Celery: (a) is one `chain` of no-op tasks per workflow (step results not stored, the timeline rides "
        "along as each step's return value); (b) is `chord(group(item.s(i) for i in range(n)), total.s())` "
        "with the Redis result backend. Workers run with `--without-heartbeat --without-gossip "
        "--without-mingle` and remote control off. Every configuration below was run; the main table shows "
        "Celery's best one per scenario.",
        "",
    ]
    lines += _table(HEAD, _rows(res))
    if res.celery:
        lines += ["", "### Celery configurations tried", ""]
        lines += _table(TRIAL_HEAD, _trial_rows(res))
    if res.work:
        lines += [
            "",
            f"### Maps of real work: (c) CPU-bound items, (d) sleeping items ({res.work_items:,} items each)",
            "",
            "Each item measures its own task time: (c) pure-Python arithmetic, its thread's CPU seconds "
            "(`time.thread_time`, unaffected by waiting for a core); (d) a 50 ms sleep, the seconds slept. "
            f"The ideal wall time is the total task time over the cores ({real_work.cores()}) for (c), over the "
            f"slots ({real_work.SLOTS}, both systems) for (d); the target is ≤ {real_work.TARGET_X}x of it. "
            "Darkroom runs (c) "
            'as `executor="process"` functions (warm pool children), Celery with its prefork pool; (d) in '
            f"threads on both. (c) runs twice on each side: one task per item, and {real_work.BATCH} items per "
            f"task (Darkroom's `Function.batch`, Celery's `chunks`); the table shows each system's best. Other "
            "processes on the machine take cores too: compare the two systems' ratios within this run.",
            "",
        ]
        lines += _table(real_work.head(), real_work.rows(res.work))
        lines += ["", "Every configuration run:", ""]
        lines += _table(real_work.tried_head(), real_work.tried(res.work))
    lines += ["", "### Targets", ""]
    rows = [[t.name, t.goal, t.measured, verdict(t.passed, bold=True)] for t in targets(res)]
    lines += _table(["target", "goal", "measured", "result"], rows)
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(path: Path, res: Results) -> None:
    """Replace the runtime section of ``path`` (or append it at the end), leaving the rest untouched."""
    queue_report.replace_section(path, START, END, markdown(res))
