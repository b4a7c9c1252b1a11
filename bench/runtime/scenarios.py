"""The scenarios, their sizes, and what one system's run of one scenario reports.

Standard library only: both sides (the project's venv and the peers' venv) may import it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bench.queue.stats import percentile

__all__ = [
    "CHAINS",
    "CHAINS_SERIAL",
    "FULL",
    "MAP_REDUCE",
    "QUICK",
    "SCENARIOS",
    "ScenarioResult",
    "Sizes",
    "best",
    "gaps_ms",
]

CHAINS = "chains"  # (a) n workflows x m no-op steps, all submitted at once
CHAINS_SERIAL = "chains-serial"  # (a) unloaded: the same workflows one at a time
MAP_REDUCE = "map-reduce"  # (b) one workflow: a map over n items and a reduce
SCENARIOS = (CHAINS, CHAINS_SERIAL, MAP_REDUCE)


@dataclass(frozen=True)
class Sizes:
    workflows: int  # (a) workflows submitted at once
    steps: int  # (a) no-op steps per workflow
    serial_workflows: int  # (a) unloaded: workflows run one after another
    items: int  # (b) map width
    repeats: int = 3  # runs of each scenario per system configuration; the best one is reported
    workers: int = 2  # worker processes, every system

    def describe(self) -> str:
        return (
            f"(a) {self.workflows} workflows x {self.steps} no-op steps, all submitted at once; "
            f"(a, unloaded) {self.serial_workflows} such workflows one at a time; "
            f"(b) one workflow: map over {self.items:,} items + reduce; {self.workers} worker processes; "
            + (f"best of {self.repeats} runs" if self.repeats > 1 else "one run")
        )


FULL = Sizes(workflows=100, steps=10, serial_workflows=20, items=2_000)
QUICK = Sizes(workflows=10, steps=10, serial_workflows=5, items=200, repeats=1)


def gaps_ms(timelines: Iterable[Sequence[Sequence[float]]]) -> list[float]:
    """Per-step overhead samples: each step's start minus the previous step's end, same workflow.

    A timeline is one workflow's steps in order, each ``(start_s, end_s)`` as ``time.time()`` read
    inside the step's function body (first and last statement), so a gap is everything the
    runtime does between two functions: settle, advance the workflow, enqueue, dequeue.
    """
    out: list[float] = []
    for timeline in timelines:
        out += [(nxt[0] - prev[1]) * 1000.0 for prev, nxt in itertools.pairwise(timeline)]
    return out


@dataclass
class ScenarioResult:
    """One system's run of one scenario (what ``darkroom_side`` returns and ``celery_side`` reports)."""

    scenario: str  # one of SCENARIOS
    steps: int  # function invocations completed (map-reduce: items + 1 for the reduce)
    wall_s: float  # clock started just before the first submit, stopped when the last step was seen done
    overhead_ms: list[float] = field(default_factory=list)  # gaps_ms() of the chains; empty for map-reduce
    config: str = ""  # how the system ran: processes, pool, prefetch, engine placement
    error: str | None = None
    cpu_s: float | None = None  # CPU seconds of the system's processes during the wall time, if measured

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_s if self.wall_s > 0 and not self.error else math.nan

    @property
    def p50_ms(self) -> float:
        return percentile(self.overhead_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.overhead_ms, 99)

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "steps": self.steps,
            "wall_s": self.wall_s,
            "steps_per_s": self.steps_per_s,
            "overhead_p50_ms": self.p50_ms,
            "overhead_p99_ms": self.p99_ms,
            "overhead_samples": len(self.overhead_ms),
            "config": self.config,
            "error": self.error,
            "cpu_s": self.cpu_s,
        }


def best(runs: Iterable[ScenarioResult]) -> ScenarioResult | None:
    """The best of several runs of one scenario: the unloaded chains' lowest median overhead, else the fastest."""
    ok = [r for r in runs if not r.error]
    if ok and ok[0].scenario == CHAINS_SERIAL:
        return min(ok, key=lambda r: r.p50_ms)
    return max(ok, key=lambda r: r.steps_per_s, default=None)
