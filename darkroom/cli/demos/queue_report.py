"""What ``darkroom queue demo`` checks and shows: states, service order, lateness, exclusivity."""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal, NotRequired, TypedDict

from rich.console import Console
from rich.table import Table

import darkroom.queue as dq

__all__ = ["DemoReport", "Lateness", "LeaseRecord", "WorkerResult", "analyse", "render"]


class LeaseRecord(TypedDict):
    """One lease a demo worker held: what it leased, when (monotonic seconds) and how it ended."""

    queue: str
    id: str
    token: int
    attempt: int
    deadline: float
    metadata: dict[str, str]
    worker: int
    where: dict[str, str] | None
    batch: int
    start: float
    end: float
    lateness_s: float | None  # completions only
    outcome: NotRequired[Literal["completed", "failed", "lost"]]  # set once the lease is settled


class WorkerResult(TypedDict):
    """What a demo worker process sends back when it stops."""

    worker: int
    records: list[LeaseRecord]
    heartbeats: int


@dataclass(frozen=True, slots=True)
class Lateness:
    """Completion minus deadline over one queue's completions (negative: early)."""

    completed: int
    on_time: int
    p50_s: float
    p95_s: float
    max_s: float


@dataclass
class DemoReport:
    """What happened; ``ok`` is False when any check failed.

    ``queue`` is the simple queue served by deadline, ``exclusive_queue`` the one whose messages
    carry ``exclusivity_key`` (and a ``step`` that must run in order per value).
    """

    queue: str
    exclusive_queue: str
    exclusivity_key: str
    elapsed_s: float = 0.0
    finished: bool = False
    enqueued_via: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    records: list[LeaseRecord] = field(default_factory=list)
    heartbeats: int = 0
    worker_exit_codes: list[int | None] = field(default_factory=list)
    events: dict[str, dict[str, float]] = field(default_factory=dict)
    lateness: dict[str, Lateness] = field(default_factory=dict)
    overlaps: list[tuple[str, int, int]] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    unordered_batches: int = 0
    batches: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.finished
            and not self.overlaps
            and not self.out_of_order
            and not self.unordered_batches
            and all(code == 0 for code in self.worker_exit_codes)
        )


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def analyse(report: DemoReport) -> None:
    """Derive lateness and the checks from the records the workers sent back."""
    by_queue: dict[str, list[float]] = defaultdict(list)
    for r in report.records:
        late = r["lateness_s"]
        if r["outcome"] == "completed" and late is not None:
            by_queue[r["queue"]].append(late)
    for name, values in by_queue.items():
        report.lateness[name] = Lateness(
            completed=len(values),
            on_time=sum(1 for v in values if v <= 0),
            p50_s=_percentile(values, 0.5),
            p95_s=_percentile(values, 0.95),
            max_s=max(values),
        )
    # exclusivity: per asset, each lease must start after the previous one ended
    per_asset: dict[str, list[LeaseRecord]] = defaultdict(list)
    for r in report.records:
        if r["queue"] == report.exclusive_queue:
            per_asset[r["metadata"][report.exclusivity_key]].append(r)
    for asset, rows in per_asset.items():
        rows.sort(key=lambda r: r["start"])
        for before, after in itertools.pairwise(rows):
            if after["start"] < before["end"]:
                report.overlaps.append((asset, before["token"], after["token"]))
        steps = [int(r["metadata"]["step"]) for r in rows]
        if steps != sorted(steps):
            report.out_of_order.append(asset)
    # each dequeue batch must come out in deadline order
    batches: dict[tuple[int, int, str], list[LeaseRecord]] = defaultdict(list)
    for r in report.records:
        batches[(r["worker"], r["batch"], r["queue"])].append(r)
    report.batches = len(batches)
    for rows in batches.values():
        deadlines = [r["deadline"] for r in sorted(rows, key=lambda r: r["token"])]
        if deadlines != sorted(deadlines):
            report.unordered_batches += 1


def _first_served(records: list[LeaseRecord], queue: str, per_worker: int) -> list[LeaseRecord]:
    by_worker: dict[int, list[LeaseRecord]] = defaultdict(list)
    for r in sorted((r for r in records if r["queue"] == queue), key=lambda r: r["token"]):
        if len(by_worker[r["worker"]]) < per_worker:
            by_worker[r["worker"]].append(r)
    return [r for worker in sorted(by_worker) for r in by_worker[worker]]


def _mark(ok: bool) -> str:
    return "[green]✓[/green]" if ok else "[red]✗[/red]"


def render(report: DemoReport, console: Console) -> None:
    """Print the tables and the checks."""
    states = [s.value for s in dq.State]
    table = Table(title="Messages per state")
    table.add_column("queue")
    for s in states:
        table.add_column(s, justify="right")
    for name, counts in report.counts.items():
        table.add_row(name, *(str(counts[s]) for s in states))
    console.print(table)

    served = _first_served(report.records, report.queue, per_worker=5)
    if served:
        # deadlines are epoch seconds, lease starts monotonic: convert at one instant
        epoch_minus_mono = time.time() - time.monotonic()
        order = Table(
            title=f"First leases of {report.queue} per worker: earliest deadline first within each worker's criteria",
            caption="deadline at lease: negative = already late when served",
        )
        for col in ("worker", "where", "token", "message", "codec", "deadline at lease", "outcome"):
            order.add_column(col, justify="right" if col in ("token", "deadline at lease") else "left")
        for r in served:
            when = r["deadline"] - (r["start"] + epoch_minus_mono)
            crit = " ".join(f"{k}={v}" for k, v in (r["where"] or {}).items()) or "any"
            order.add_row(
                f"w{r['worker']}", crit, str(r["token"]), r["id"], r["metadata"].get("codec", ""), f"{when:+.1f}s",
                r["outcome"] if r["attempt"] == 1 else f"{r['outcome']} (attempt {r['attempt']})",
            )  # fmt: skip
        console.print(order)

    late = Table(title="Lateness of completions (completion - deadline; negative = early)")
    for col in ("queue", "completed", "on time", "p50", "p95", "max"):
        late.add_column(col, justify="left" if col == "queue" else "right")
    for name, lat in report.lateness.items():
        late.add_row(
            name, str(lat.completed), f"{lat.on_time / lat.completed:.0%}",
            f"{lat.p50_s:+.1f}s", f"{lat.p95_s:+.1f}s", f"{lat.max_s:+.1f}s",
        )  # fmt: skip
    console.print(late)

    if report.events:
        kinds = ("enqueued", "dequeued", "completed", "failed", "expired", "promoted")
        ev = Table(title="Counters kept by the Lua scripts (scraped from /metrics)")
        ev.add_column("queue")
        for kind in kinds:
            ev.add_column(kind, justify="right")
        for name, scraped in report.events.items():
            ev.add_row(name, *(f"{scraped.get(kind, 0):.0f}" for kind in kinds))
        console.print(ev)

    outcomes: dict[str, int] = defaultdict(int)
    for r in report.records:
        outcomes[r["outcome"]] += 1
    assets = len(
        {r["metadata"][report.exclusivity_key] for r in report.records if r["queue"] == report.exclusive_queue}
    )
    leases = sum(1 for r in report.records if r["queue"] == report.exclusive_queue)
    via = ", ".join(f"{n} via {k}" for k, n in sorted(report.enqueued_via.items()))
    console.print(f"enqueued: {via}; {len(report.worker_exit_codes)} worker processes (odd ones over gRPC)")
    console.print(
        f"leases: {len(report.records)} ({outcomes['completed']} completed, {outcomes['failed']} failed,"
        f" {outcomes['lost']} lost); heartbeats sent: {report.heartbeats}"
    )
    console.print(
        f"{_mark(not report.unordered_batches)} every dequeue batch came out earliest-deadline-first"
        f" ({report.batches - report.unordered_batches}/{report.batches})"
    )
    console.print(
        f"{_mark(not report.overlaps)} no asset ever had two messages running at once"
        f" ({leases} leases over {assets} assets; overlaps: {len(report.overlaps)})"
    )
    console.print(f"{_mark(not report.out_of_order)} each asset's steps ran in step order")
    finished = "finished" if report.finished else "did NOT finish"
    console.print(f"{_mark(report.finished)} all work {finished} in {report.elapsed_s:.1f}s")
