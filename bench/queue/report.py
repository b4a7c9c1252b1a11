"""The results as Rich tables (stdout) and as the queue section of docs/benchmarks.md."""

from __future__ import annotations

import math
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.queue.results import Results, targets, verdict

__all__ = ["markdown", "print_rich", "write_section"]

START = "<!-- bench-queue:start (written by `make bench-queue`; edits inside are overwritten) -->"
END = "<!-- bench-queue:end -->"


def _caveat(load_at_start: str) -> str:
    try:
        busy = float(load_at_start.split(maxsplit=1)[0]) > 1.0
    except (ValueError, IndexError):
        busy = True
    if busy:
        return "the machine was busy with other work when the run started (load above); numbers are low."
    return "the machine was otherwise idle when the run started."


def _n(x: float, digits: int = 0) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _system_rows(res: Results) -> list[list[str]]:
    rows = []
    for r in res.systems:
        label = f"{r.system.label} ({r.system.shape})"
        if r.pending:
            rows.append([label, r.pending, "", "", "", "", ""])
            continue
        t = r.throughput
        err = f" ⚠ {t.error}" if t and t.error else ""

        def lat(x: object) -> str:
            from bench.queue.latency import Latency

            if not isinstance(x, Latency) or not math.isfinite(x.p50_ms):
                return "-" if not isinstance(x, Latency) or not x.error else f"⚠ {x.error}"
            short = "" if x.achieved_per_s >= 0.95 * x.target_per_s else " (producer fell short)"
            forks = f" ({x.forks} redis fork{'s' if x.forks > 1 else ''})" if x.forks else ""
            return f"{x.p50_ms:.1f} / {x.p99_ms:.1f} @ {_n(x.achieved_per_s)}/s{short}{forks}"

        rows.append(
            [
                label,
                _n(t.enqueue_per_s) if t else "-",
                (_n(t.process_per_s) if t else "-") + err,
                lat(r.fixed),
                lat(r.quarter),
                lat(r.half),
                _n(r.sustained.completed_per_s) if r.sustained else "-",
                lat(r.half_sustained),
                _n(t.commands_per_job, 1) if t else "-",
                _n(t.cpu_us_per_job) if t else "-",
            ]
        )
    return rows


HEAD = [
    "system",
    "enqueue jobs/s",
    "process jobs/s",
    "p50 / p99 ms (fixed rate)",
    "p50 / p99 ms (¼ peak)",
    "p50 / p99 ms (½ peak)",
    "sustained jobs/s",
    "p50 / p99 ms (½ sustained)",
    "Redis cmds/job",
    "Redis CPU µs/job",
]


def print_rich(res: Results, console: Console | None = None) -> None:
    console = console or Console(width=200)
    table = Table(title="Queue systems, no-op jobs (one run, same Redis)")
    for h in HEAD:
        table.add_column(h, overflow="fold")
    for row in _system_rows(res):
        table.add_row(*row)
    console.print(table)
    if res.ceilings:
        ct = Table(title="Ceiling: Darkroom's scripts via redis-benchmark / redis-cli --pipe")
        for h in (
            "batch",
            "enqueue jobs/s",
            "dequeue jobs/s",
            "settle jobs/s",
            "cycle jobs/s",
            "dequeue+settle jobs/s",
            "script µs/job (enq/deq/settle)",
        ):
            ct.add_column(h)
        for c in res.ceilings:
            rates = {r.script: r for r in c.rates}
            us = " / ".join(
                _n(rates[s].usec_per_job, 1) if s in rates else "-" for s in ("enqueue", "dequeue", "settle")
            )
            ct.add_row(
                str(c.batch),
                *(_n(rates[s].jobs_per_s) if s in rates else "-" for s in ("enqueue", "dequeue", "settle")),
                _n(c.cycle_per_s),
                _n(c.process_per_s),
                us,
            )
        console.print(ct)
    if res.flatness:
        ft = Table(title="Dequeue + complete (batch 10) cost per message vs pending depth")
        ft.add_column("queue")
        ft.add_column("pending → client µs/msg (Redis µs/msg)")
        for f in res.flatness:
            ft.add_row(
                f.kind,
                "   ".join(f"{d.pending:,}: {_n(d.client_us_per_msg)} ({_n(d.redis_us_per_msg)})" for d in f.depths)
                + (f" ⚠ {f.error}" if f.error else ""),
            )
        console.print(ft)
    if res.profile is not None:
        pt = Table(title=f"Darkroom worker profile (py-spy), µs per job; error: {res.profile.error or 'none'}")
        pt.add_column("where")
        pt.add_column("µs/job")
        for k, v in list(res.profile.by_call.items()) + list(res.profile.by_layer.items()):
            pt.add_row(k, f"{v:.1f}")
        console.print(pt)
    tt = Table(title="Targets")
    for h in ("target", "goal", "measured", "result"):
        tt.add_column(h)
    for t in targets(res):
        tt.add_row(t.name, t.goal, t.measured, verdict(t.passed))
    console.print(tt)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def markdown(res: Results) -> str:
    m = res.machine
    lines = [
        START,
        "## Queue: Darkroom vs peers (`make bench-queue`)",
        "",
        f"- **Date:** {m.date}; total run time {res.seconds / 60:.1f} min",
        f"- **Command:** `{m.command}` ({res.settings})",
        f"- **Machine:** {m.cores} cores ({m.cpu}), {m.ram_gib:.0f} GiB RAM, Linux {m.kernel}; "
        f"load average at start {m.load_at_start}",
        f"- **Software:** redis-server {m.redis} (private, password, AOF appendfsync everysec, TCP 127.0.0.1); "
        f"Python {m.python}; Node {m.node}",
        f"- **Darkroom code:** {m.commit}",
        f"- **Caveat:** {_caveat(m.load_at_start)} Single runs of these systems vary by up to ±40%: "
        "compare rows of one run only.",
        "",
        "No-op jobs. Enqueue N with each system's fastest enqueue path, then start exactly 2 worker processes; "
        "processing jobs/s over the 10%-90% completions. Latency = job start - producer clock just before the "
        "enqueue call; one producer process on a fixed schedule, first at 200 jobs/s and then at a quarter and at"
        " half of the system's measured processing rate. *Sustained* = the completion rate while the producer "
        "enqueues flat out at the same time (on 2 shared cores the producer takes CPU from the workers and Redis, "
        "so this is below the backlog-drain rate and is the load the machine can really carry); the last latency "
        "phase runs at half of it, and the latency target is judged there. The producer stands for many "
        "clients: it calls at most once per 1 ms tick with every job due by then (one job per call below "
        "1,000/s), in one bulk call where "
        "the system has one (Darkroom enqueue_many, BullMQ addBulk, RQ enqueue_many; arq/SAQ gather them, the "
        "others send back to back), so a job waits at most a tick in the producer before its clock starts. Each "
        "latency phase starts once no AOF rewrite runs (a flood phase sets one off, and its fork and its child's "
        "CPU would land in the next phase); forks of redis-server during a phase are shown beside it. Redis "
        "commands (those run inside Lua scripts included) and Redis CPU (user+sys) per job are INFO deltas over "
        "the enqueue + processing phase.",
        "",
    ]
    lines += _table(HEAD, _system_rows(res))
    lines += ["", "### Targets", ""]
    lines += _table(
        ["target", "goal", "measured", "result"],
        [[t.name, t.goal, t.measured, verdict(t.passed, bold=True)] for t in targets(res)],
    )
    if res.ceilings:
        lines += [
            "",
            "### Ceiling: the scripts alone",
            "",
            "EVALSHA of the full script text (prelude + script, as the client loads it), ARGV built by the client's "
            "own `Core`. enqueue/dequeue: `redis-benchmark` (batch 1: 50 clients x pipeline 16; batch 100: 10 x 4); "
            "settle: `redis-cli --pipe` of pre-built calls (it needs each lease's token). "
            "Cycle = 1 / (1/enq + 1/deq + 1/settle), because Redis runs scripts one at a time. "
            "Script µs/job is Redis's own time per message (INFO commandstats).",
            "",
        ]
        rows = []
        for c in res.ceilings:
            rates = {r.script: r for r in c.rates}

            def cell(s: str, rates: dict = rates) -> str:  # type: ignore[type-arg]
                r = rates.get(s)
                return (
                    "-"
                    if r is None
                    else f"{_n(r.jobs_per_s)} ({_n(r.usec_per_job, 1)} µs, {_n(r.commands_per_job, 1)} cmds)"
                )

            rows.append(
                [
                    str(c.batch),
                    cell("enqueue"),
                    cell("dequeue"),
                    cell("settle"),
                    _n(c.cycle_per_s),
                    _n(c.process_per_s),
                    _n(c.cycle_server_per_s),
                ]
                + ([f"⚠ {c.error}"] if c.error else [])
            )
        lines += _table(
            [
                "batch",
                "enqueue jobs/s (µs, cmds per job)",
                "dequeue",
                "settle",
                "cycle jobs/s",
                "dequeue+settle jobs/s",
                "cycle if Redis only ran scripts",
            ],
            rows,
        )
        if res.prelude:
            p = res.prelude
            lines += [
                "",
                f"Prelude cost: EVALSHA `return 0` = {p.empty_usec:.1f} µs/call in Redis; `_lib.lua` + `return 0` = "
                f"{p.prelude_usec:.1f} µs/call (paid by every script call, whatever the batch).",
            ]
    if res.flatness:
        lines += [
            "",
            "### Dequeue cost vs depth",
            "",
            "Median per message of a `dequeue(max_messages=10)` + `complete_many`, with the depth kept constant by "
            "refilling after each step; client wall µs (Redis script µs in brackets). Exclusive: 10 messages per "
            'exclusivity value; where: `indexed_keys=["codec"]`, 1 in 4 messages match `codec=av1`. The control '
            "does what a simple queue's dequeue + complete does to Redis (pop sorted-set heads, HMGET and HSET "
            "each message hash, move members between sorted sets) in plain Lua without Darkroom's logic: growth "
            "it shares is Redis and the memory hierarchy, not the queue's algorithm.",
            "",
        ]
        depths = sorted({d.pending for f in res.flatness for d in f.depths})
        rows = []
        for f in res.flatness:
            got = {d.pending: d for d in f.depths}
            row = [f.kind] + [
                f"{_n(got[p].client_us_per_msg)} ({_n(got[p].redis_us_per_msg)})" if p in got else "-" for p in depths
            ]
            row.append(f"+{f.spread('client_us_per_msg'):.0%} / +{f.spread('redis_us_per_msg'):.0%}")
            rows.append(row)
        fills = ", ".join(f"{f.kind} {_n(f.depths[-1].fill_per_s)}/s" for f in res.flatness if f.depths)
        lines += _table(["queue"] + [f"{p:,} pending" for p in depths] + ["spread client / Redis"], rows)
        lines += ["", f"Fill rate at the deepest step (pipelined enqueue_many of 1000): {fills}."]
    if res.profile and not res.profile.error:
        p = res.profile
        lines += [
            "",
            "### Where a Darkroom worker's time goes",
            "",
            f"py-spy (idle samples included) on one of the 2 workers of a throughput run: {p.us_per_job:.0f} µs of "
            f"worker wall time per job over the {p.jobs:,} jobs that worker ran (two workers run side by side, "
            "so each one's wall time per job is about twice the system's).",
            "",
        ]
        lines += _table(["queue call", "µs/job"], [[k, f"{v:.1f}"] for k, v in p.by_call.items()])
        lines += [""]
        lines += _table(["layer", "µs/job"], [[k, f"{v:.1f}"] for k, v in p.by_layer.items()])
        lines += [""]
        lines += _table(["hottest leaf functions", "µs/job"], [[k, f"{v:.1f}"] for k, v in p.top_leaves[:8]])
    elif res.profile:
        lines += ["", f"Profile: ⚠ {res.profile.error}"]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(path: Path, res: Results) -> None:
    """Replace the queue section of ``path`` (or append it), leaving the rest untouched."""
    replace_section(path, START, END, markdown(res))


def replace_section(path: Path, start: str, end: str, section: str) -> None:
    """Put ``section`` (which begins with ``start`` and ends with ``end``) in place of the text
    between those markers in ``path``, or append it; the rest of the file is left untouched."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(re.escape(start.split(" (", maxsplit=1)[0]) + r".*?" + re.escape(end) + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
