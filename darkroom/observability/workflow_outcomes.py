"""How a workflow's recent runs ended, read from the workflow store's table: the value of the
``workflow_failure`` check where no Prometheus sums the engines' ``darkroom_workflows_finished_total``.

The ``(state, created_at)`` index bounds the read: only runs created within
:data:`CREATED_WITHIN_S` before the window are looked at, so a run that took longer than that to
end is not counted (deadlines are far shorter).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from darkroom.storage.db import read_only
from darkroom.storage.schema import workflows

__all__ = ["CREATED_WITHIN_S", "ENDED", "Outcomes", "finished_runs"]

CREATED_WITHIN_S = 86400.0
ENDED = ("succeeded", "failed", "canceled")  # the engine's terminal run states


@dataclass(frozen=True, slots=True)
class Outcomes:
    """One workflow's runs that ended in the window."""

    failed: int
    finished: int

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.finished if self.finished else 0.0


def finished_runs(engine: sa.Engine, since_s: float) -> dict[str, Outcomes]:
    """Per workflow name, its runs that ended at ``since_s`` or later (one grouped query)."""
    w = workflows.c
    query = (
        sa.select(w.name, w.state, sa.func.count())
        .where(w.state.in_(ENDED), w.created_at >= since_s - CREATED_WITHIN_S, w.ended_at >= since_s)
        .group_by(w.name, w.state)
    )
    failed: dict[str, int] = {}
    finished: dict[str, int] = {}
    with read_only(engine).connect() as conn:
        for name, state, count in conn.execute(query):
            finished[name] = finished.get(name, 0) + int(count)
            if state == "failed":
                failed[name] = failed.get(name, 0) + int(count)
    return {name: Outcomes(failed.get(name, 0), n) for name, n in finished.items()}
