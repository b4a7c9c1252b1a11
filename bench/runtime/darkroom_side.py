"""ADAPTER TO FILL IN: Darkroom's runtime doing the scenarios of ``make bench-runtime``.

Both functions run in the harness process (the project's venv), against a private, freshly
flushed Redis at ``redis_url`` (TCP, with password). Until they are implemented they raise
``NotImplementedError`` and the harness reports Darkroom as "not run".

Contract, for both functions:

* Start exactly ``workers`` worker processes (the runtime's function workers; the workflow engine
  runs inside them, as Celery's canvas logic runs inside its workers; if the engine needs
  processes of its own, name them in ``ScenarioResult.config`` so the report shows it). Wait until
  they are ready, then start the clock (``time.perf_counter()``) just before the first submit.
* Stop the clock when the harness process has seen the last workflow finish; stop every process
  you started before returning. Logs and scratch files go under ``workdir``.
* The step functions are no-ops; ``map-reduce``'s reduce sums the items (check the sum).
* Do not raise on a failed run: return ``ScenarioResult(..., error="what went wrong")``.
* The harness calls each function several times (``--repeats``, 3 by default; Redis flushed before
  every call) and reports the best run, as it does for every Celery configuration.

``run_chains(redis_url, n_workflows, n_steps, *, in_flight, workers, workdir) -> ScenarioResult``
    ``n_workflows`` workflows, each a linear DAG of ``n_steps`` no-op steps. Keep ``in_flight``
    workflows started and unfinished at a time: ``in_flight == n_workflows`` is scenario (a), all
    submitted at once; ``in_flight == 1`` is the unloaded variant, one workflow after another.
    Return ``ScenarioResult(scenario, steps=n_workflows * n_steps, wall_s, overhead_ms=gaps_ms(t))``
    where ``scenario`` is ``CHAINS`` (``in_flight > 1``) or ``CHAINS_SERIAL``, and ``t`` holds each
    workflow's ``[(start_s, end_s), ...]`` per step in order, ``time.time()`` read as the first and
    the last statement of the step's function body (the runtime's per-step timings, if they are
    taken there, or values the function returns).

``run_map_reduce(redis_url, n_items, *, workers, workdir) -> ScenarioResult``
    One workflow: a map node fanning out to ``n_items`` no-op invocations (item ``i`` returns
    ``i``), then a reduce node summing them. Return
    ``ScenarioResult(MAP_REDUCE, steps=n_items + 1, wall_s)`` (no overhead samples).
"""

from __future__ import annotations

from pathlib import Path

from bench.runtime.scenarios import ScenarioResult

__all__ = ["run_chains", "run_map_reduce"]


def run_chains(
    redis_url: str, n_workflows: int, n_steps: int, *, in_flight: int, workers: int, workdir: Path
) -> ScenarioResult:
    """Scenario (a) (and its unloaded variant); see the module docstring."""
    raise NotImplementedError("Darkroom's runtime adapter is not written yet")


def run_map_reduce(redis_url: str, n_items: int, *, workers: int, workdir: Path) -> ScenarioResult:
    """Scenario (b); see the module docstring."""
    raise NotImplementedError("Darkroom's runtime adapter is not written yet")
