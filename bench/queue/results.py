"""Everything one run measured, and the targets it is judged against."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.queue.ceiling import Ceiling, Prelude
from bench.queue.flatness import CONTROL, Flatness
from bench.queue.latency import Latency
from bench.queue.machine import Machine
from bench.queue.profiling import Profile
from bench.queue.registry import System
from bench.queue.throughput import Throughput

__all__ = ["Results", "SystemResult", "Target", "targets", "verdict"]


@dataclass
class SystemResult:
    system: System
    throughput: Throughput | None = None
    fixed: Latency | None = None  # at the fixed moderate rate
    quarter: Latency | None = None  # at a quarter of the system's measured peak: where the knee is
    half: Latency | None = None  # at half of the system's measured peak
    sustained: Latency | None = None  # the producer flat out: completed_per_s is the sustained peak
    half_sustained: Latency | None = None  # at half of the sustained peak
    pending: str | None = None


@dataclass
class Results:
    machine: Machine
    settings: str
    systems: list[SystemResult] = field(default_factory=list)
    ceilings: list[Ceiling] = field(default_factory=list)
    prelude: Prelude | None = None
    flatness: list[Flatness] = field(default_factory=list)
    profile: Profile | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None  # None: not measured in this run


def verdict(passed: bool | None, bold: bool = False) -> str:
    """PASS / FAIL (bold for markdown), or a dash when the target was not measured."""
    if passed is None:
        return "—"
    word = "PASS" if passed else "FAIL"
    return f"**{word}**" if bold else word


def _rate(r: SystemResult | None) -> float:
    if r is None or r.throughput is None or r.throughput.error:
        return math.nan
    return r.throughput.process_per_s


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:,.0f}"


def targets(res: Results) -> list[Target]:
    by_key = {r.system.key: r for r in res.systems}
    ours = by_key.get("darkroom")
    dr = _rate(ours)
    out: list[Target] = []

    python_peers = [r for r in res.systems if not r.system.darkroom and r.system.runtime != "node"]
    best = max(python_peers, key=_rate, default=None) if python_peers else None
    best_rate = _rate(best)
    ok = dr / best_rate >= 3.0 if math.isfinite(dr) and math.isfinite(best_rate) else None
    who = best.system.label if best else "none measured"
    out.append(
        Target(
            "vs best Python peer (processing jobs/s)",
            "≥ 3x",
            f"{dr / best_rate:.2f}x ({_fmt(dr)} vs {who} {_fmt(best_rate)})" if ok is not None else "n/a",
            ok,
        )
    )

    bull = _rate(by_key.get("bullmq"))
    ok = dr / bull >= 1.5 if math.isfinite(dr) and math.isfinite(bull) else None
    out.append(
        Target(
            "vs BullMQ (processing jobs/s)",
            "≥ 1.5x",
            f"{dr / bull:.2f}x ({_fmt(dr)} vs {_fmt(bull)})" if ok is not None else "n/a",
            ok,
        )
    )

    ceil = next((c for c in res.ceilings if c.batch > 1 and not c.error), None)
    if ours and ours.throughput and not ours.throughput.error and ceil is not None:
        t = ours.throughput
        cycle = 1.0 / (1.0 / t.enqueue_per_s + 1.0 / t.process_per_s)
        frac = cycle / ceil.cycle_per_s
        out.append(
            Target(
                f"vs the scripts' ceiling (cycle, batch {ceil.batch})",
                "≥ 50%",
                f"{frac:.0%} ({_fmt(cycle)} vs {_fmt(ceil.cycle_per_s)} jobs/s)",
                frac >= 0.5,
            )
        )
    else:
        out.append(Target("vs the scripts' ceiling", "≥ 50%", "n/a", None))

    out.append(_half_peak(ours))

    for flat in res.flatness:
        if flat.kind == CONTROL:
            continue
        spread = flat.spread("client_us_per_msg")
        server = flat.spread("redis_us_per_msg")
        sizes = f"{flat.depths[0].pending:,}-{flat.depths[-1].pending:,}" if flat.depths else "-"
        ok = spread <= 0.2 if math.isfinite(spread) else None
        measured = f"+{spread:.0%} client, +{server:.0%} Redis ({sizes} pending)" if ok is not None else "n/a"
        out.append(Target(f"dequeue cost flat: {flat.kind}", "within 20% (client)", measured, ok))
    return out


def _half_peak(ours: SystemResult | None) -> Target:
    """p99 at half of the sustained peak (enqueue and processing at once), with the same phase at
    half the backlog-drain rate given alongside."""
    name, goal = "p99 enqueue-to-start at half of peak (sustained)", "≤ 5 ms"
    half, sustained = (ours.half_sustained, ours.sustained) if ours else (None, None)
    if half is None or sustained is None or not math.isfinite(half.p99_ms):
        return Target(name, goal, "n/a", None)
    drain = ours.half if ours else None
    also = (
        f"; at ½ of the drain rate ({_fmt(drain.achieved_per_s)}/s) p99 {drain.p99_ms:.1f} ms"
        if drain is not None and math.isfinite(drain.p99_ms)
        else ""
    )
    measured = (
        f"{half.p99_ms:.1f} ms at {_fmt(half.achieved_per_s)}/s (½ of the sustained "
        f"{_fmt(sustained.completed_per_s)}/s){also}"
    )
    if half.forks:
        measured += f"; redis forked {half.forks}x during the phase (AOF rewrite)"
    if half.achieved_per_s < 0.9 * half.target_per_s:
        return Target(name, goal, f"not reached: the producer sent {_fmt(half.achieved_per_s)}/s; {measured}", None)
    return Target(name, goal, measured, half.p99_ms <= 5.0)
