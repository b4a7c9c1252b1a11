"""The sample app of ``darkroom up`` and ``make demo``: a map of CPU-light tasks and a reduce.

``sample.scores`` takes ``n`` and a ``salt``: ``plan`` lists the items, ``score`` hashes each
(a few thousand SHA-256 rounds, with progress), ``summarize`` reduces the scores.
"""

from __future__ import annotations

import hashlib
from typing import TypedDict

from darkroom.runtime.context import TaskContext
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Workflow

__all__ = ["Plan", "Score", "Summary", "registry"]

registry = Registry()


class Plan(TypedDict):
    items: list[int]


class Score(TypedDict):
    item: int
    score: int


class Summary(TypedDict):
    count: int
    best_item: int | None
    total: int


@registry.function(queue="sample")
def plan(ctx: TaskContext, n: int) -> Plan:
    return {"items": list(range(n))}


@registry.function(queue="sample", timeout_s=60, executor="process")  # CPU-bound Python: one core per child
def score(ctx: TaskContext, item: int, salt: str, rounds: int = 20_000) -> Score:
    digest = f"{salt}:{item}".encode()
    for i in range(rounds):
        digest = hashlib.sha256(digest).digest()
        if i % 5000 == 0:
            ctx.progress(i / rounds, f"round {i}")
    return {"item": item, "score": int.from_bytes(digest[:4], "big")}


@registry.function(queue="sample")
def summarize(ctx: TaskContext, results: list[Score]) -> Summary:
    best = max(results, key=lambda r: r["score"], default=None)
    return {
        "count": len(results),
        "best_item": best["item"] if best else None,
        "total": sum(r["score"] for r in results),
    }


scores = Workflow("sample.scores", inputs=["n", "salt"], priority="preview", description="map n scores, reduce")
_plan = scores.task("plan", plan, n=scores.input("n"))
_scores = scores.map("score", score, over=_plan["items"], salt=scores.input("salt"))
_summary = scores.reduce("summarize", summarize, over=_scores)
scores.output("summary", _summary)
registry.add_workflow(scores)
