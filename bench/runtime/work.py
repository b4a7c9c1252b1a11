"""Maps of real work (``map-cpu``, ``map-sleep``): how close each system gets to the ideal.

The no-op scenarios measure the runtime's own cost; these measure whether it keeps the machine
busy. Each item measures its task time (``work_items``); the ideal wall time is the total task
time divided by what can run it at once: the cores for CPU-bound items, the slots for sleeping
ones. The target: within ``TARGET_X`` of the ideal, side by side with Celery on the same work.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

__all__ = [
    "BATCH",
    "CELERY_WORK",
    "CPU",
    "SCENARIOS",
    "SLEEP",
    "TARGET_X",
    "CeleryWork",
    "DarkroomWork",
    "WorkRow",
    "cores",
    "darkroom_work",
    "head",
    "rows",
    "tried",
    "tried_head",
]

CPU = "map-cpu"
SLEEP = "map-sleep"
SCENARIOS = (CPU, SLEEP)
LABELS = {CPU: "(c) map of CPU-bound items", SLEEP: "(d) map of sleeping items"}
TARGET_X = 1.2
SLOTS = 16  # the sleeping map: slots per system (2 worker processes x 8)
# (c) is also run with items in batches, on both sides: Darkroom's ``Function.batch``, Celery's
# ``chunks``; 32 items of ~4 ms make a task of ~130 ms, and 2,000 items 63 tasks
BATCH = 32


def cores() -> int:
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class DarkroomWork:
    scenario: str
    concurrency: int  # threads per worker process
    processes: int  # pool children per worker process (0: none)
    batch: int = 1  # map items per task (Function.batch)

    def describe(self, workers: int) -> str:
        batch = f", batch={self.batch}" if self.batch > 1 else ""
        if self.processes:
            slots = f"{self.concurrency} slots{batch}"
            return f"{workers} workers x {self.processes} pool child(ren) (executor=process), {slots}"
        return f"{workers} workers x {self.concurrency} threads{batch}"


@dataclass(frozen=True)
class CeleryWork:
    scenario: str
    pool: str
    processes: int  # worker commands
    concurrency: int
    prefetch: int
    chunks: int = 1  # items per task (Celery's ``chunks``)

    def describe(self) -> str:
        chunks = f", chunks of {self.chunks}" if self.chunks > 1 else ""
        return (
            f"{self.processes} x {self.pool} worker, concurrency {self.concurrency}, prefetch x{self.prefetch}{chunks}"
        )


def darkroom_work(workers: int) -> tuple[DarkroomWork, ...]:
    """Darkroom's configuration per scenario: a pool child per core (and a second slot per child,
    so the next item is at hand when one finishes), or the same sleeping slots as Celery's."""
    per_worker = max(1, cores() // workers)
    return (
        DarkroomWork(CPU, concurrency=2 * per_worker, processes=per_worker),
        DarkroomWork(CPU, concurrency=2 * per_worker, processes=per_worker, batch=BATCH),
        DarkroomWork(SLEEP, concurrency=SLOTS // workers, processes=0),
    )


CELERY_WORK = (
    # CPU: prefork children, one per core (the GIL makes threads useless here)
    CeleryWork(CPU, "prefork", 1, cores(), 1),
    CeleryWork(CPU, "prefork", 1, cores(), 4),
    CeleryWork(CPU, "prefork", 1, cores(), 1, chunks=BATCH),
    CeleryWork(CPU, "prefork", 1, cores(), 4, chunks=BATCH),
    # I/O: threads, the same slots as Darkroom's
    CeleryWork(SLEEP, "threads", 2, SLOTS // 2, 1),
    CeleryWork(SLEEP, "threads", 2, SLOTS // 2, 4),
)


@dataclass
class WorkRow:
    """One system's best run of one scenario."""

    system: str
    scenario: str
    config: str
    items: int
    wall_s: float
    task_s: float
    parallel: int  # cores (CPU) or slots (sleep): what the ideal divides by
    error: str | None = None

    @property
    def ideal_s(self) -> float:
        return self.task_s / self.parallel if self.parallel else math.nan

    @property
    def ratio(self) -> float:
        return self.wall_s / self.ideal_s if self.ideal_s > 0 and not self.error else math.nan

    @property
    def passed(self) -> bool | None:
        return None if self.error else self.ratio <= TARGET_X

    def to_json(self) -> dict[str, object]:
        return {
            "system": self.system,
            "scenario": self.scenario,
            "config": self.config,
            "items": self.items,
            "wall_s": self.wall_s,
            "task_s": self.task_s,
            "parallel": self.parallel,
            "ideal_s": self.ideal_s,
            "ratio": self.ratio,
            "error": self.error,
        }


def tried_head() -> list[str]:
    return ["system", "configuration", "scenario", "wall s", "wall / ideal"]


def tried(work: list[WorkRow]) -> list[list[str]]:
    """Every configuration run, the best of the two systems' marked in the table above."""
    out = []
    for r in sorted(work, key=lambda r: (SCENARIOS.index(r.scenario), r.system != "darkroom")):
        system = "Darkroom" if r.system == "darkroom" else "Celery"
        measured = [f"⚠ {r.error}", ""] if r.error else [f"{r.wall_s:.2f}", f"{r.ratio:.2f}x"]
        out.append([system, r.config, LABELS[r.scenario], *measured])
    return out


def head() -> list[str]:
    return ["system", "scenario", "items", "task time s", "divided by", "ideal s", "wall s", "wall / ideal", "≤ 1.2x"]


def rows(work: list[WorkRow]) -> list[list[str]]:
    out = []
    for scenario in SCENARIOS:
        for system in ("darkroom", "celery"):
            runs = [r for r in work if r.system == system and r.scenario == scenario]
            ok = [r for r in runs if not r.error]
            chosen = min(ok, key=lambda r: r.ratio) if ok else (runs[0] if runs else None)
            if chosen is None:
                continue
            name = ("Darkroom" if system == "darkroom" else "Celery, best") + f" ({chosen.config})"
            if chosen.error:
                out.append([name, LABELS[scenario], f"⚠ {chosen.error}", "", "", "", "", "", ""])
                continue
            unit = "cores" if scenario == CPU else "slots"
            verdict = "PASS" if chosen.passed else "FAIL"
            out.append(
                [
                    name,
                    LABELS[scenario],
                    f"{chosen.items:,}",
                    f"{chosen.task_s:.2f}",
                    f"{chosen.parallel} {unit}",
                    f"{chosen.ideal_s:.2f}",
                    f"{chosen.wall_s:.2f}",
                    f"{chosen.ratio:.2f}x",
                    verdict,
                ]
            )
    return out
