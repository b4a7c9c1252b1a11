"""Chunk planning for the encoding service: the policy a request carries, and ``media.plan_chunks``.

The decision is :func:`~darkroom.media.chunks.should_chunk` (``chunk="auto"``) or the request's
``always``/``never``; the boundaries are :func:`~darkroom.media.chunks.plan_chunks` on the GOP grid
of every rung (the least common multiple of their keyints), preferring scene cuts. Not chunked is
one chunk spanning the title.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from darkroom.media.chunks import LONG_TITLE_S, Chunk, plan_chunks, should_chunk
from darkroom.media.complexity import Complexity
from darkroom.media.recipe import DEFAULT_LADDER, Recipe, fit_ladder
from darkroom.runtime.context import TaskContext
from darkroom.runtime.errors import PermanentError
from darkroom.services.common import QUEUE_MEDIA, StrictModel, registry

__all__ = ["MAX_CHUNKS", "ChunkPolicy", "chunk_reason", "fitted_recipes", "plan_fn"]

# The plan travels inline in the step's result (at most 64 KiB; a chunk is about 90 bytes there),
# so a very long title gets longer chunks rather than a plan that does not fit: 600 chunks of the
# default 30 s are five hours.
MAX_CHUNKS = 600


class ChunkPolicy(StrictModel):
    """When and how to split the encode. ``workers_available`` counts hosts (worker slots that do
    not share cores; ``None``: the hosts the platform's worker directory lists when the request is
    submitted, else one); ``est_encode_fps`` is the single-pass speed estimate (``None``: unknown)."""

    chunk: Literal["auto", "always", "never"] = "auto"
    workers_available: int | None = Field(default=None, ge=1, le=10_000)
    latency_target_s: float = Field(default=600.0, gt=0, le=7 * 86400)
    est_encode_fps: float | None = Field(default=None, gt=0, le=100_000)
    target_s: float = Field(default=30.0, ge=0.5, le=3600)
    min_s: float = Field(default=10.0, ge=0.5, le=3600)

    @model_validator(mode="after")
    def _sizes(self) -> ChunkPolicy:
        if self.min_s > self.target_s:
            raise ValueError(f"min_s={self.min_s!r} must not exceed target_s={self.target_s!r}")
        return self

    def with_hosts(self, hosts: Callable[[], int]) -> ChunkPolicy:
        """This policy, with ``workers_available`` from ``hosts()`` when the request left it open
        and the decision needs it (``chunk="auto"``)."""
        if self.workers_available is not None or self.chunk != "auto":
            return self
        return self.model_copy(update={"workers_available": max(1, hosts())})


def fitted_recipes(given: Sequence[Mapping[str, Any]] | None, width: int, height: int) -> list[Recipe]:
    """``given`` (or ``DEFAULT_LADDER``) fitted to the source; audio stripped (its own rendition)."""
    ladder = [Recipe.from_dict(r) for r in given] if given else list(DEFAULT_LADDER)
    return [Recipe.from_dict({**r.to_dict(), "audio": None}) for r in fit_ladder(ladder, width, height)]


def chunk_reason(policy: ChunkPolicy, duration_s: float, fps: float) -> tuple[bool, str]:
    """The decision and why, in words (the rule itself is ``should_chunk``)."""
    if policy.chunk != "auto":
        return policy.chunk == "always", f"chunk={policy.chunk} requested"
    hosts = policy.workers_available or 1
    decided = should_chunk(duration_s, hosts, policy.latency_target_s, policy.est_encode_fps or 0.0, fps,
                           min_s=policy.min_s)  # fmt: skip
    if hosts < 2:
        return decided, "one worker host: x264 already fills its cores, chunks would not be faster"
    if duration_s < 2 * policy.min_s:
        return decided, f"{duration_s:.1f} s is shorter than two chunks of {policy.min_s:g} s"
    if not policy.est_encode_fps:
        return decided, f"no speed estimate: spread over {hosts} worker hosts"
    single = duration_s * fps / policy.est_encode_fps
    if single > policy.latency_target_s:
        return decided, f"one pass would take about {single:.0f} s, over the {policy.latency_target_s:g} s target"
    if duration_s >= LONG_TITLE_S:
        return decided, f"a long title ({duration_s:.0f} s): a lost worker then costs one chunk"
    return decided, f"one pass (about {single:.0f} s) meets the {policy.latency_target_s:g} s target"


def _capped_plan(
    duration: float, fps: float, keyint: int, cuts: list[float], rules: ChunkPolicy
) -> tuple[list[Chunk], float]:
    """The plan, with chunk sizes scaled up (both ``target_s`` and ``min_s``) until it has at most
    :data:`MAX_CHUNKS` chunks; and the scale used."""
    scale = 1.0
    while True:
        plan = plan_chunks(duration, fps, keyint, cuts, target_s=rules.target_s * scale, min_s=rules.min_s * scale)
        if len(plan) <= MAX_CHUNKS:
            return plan, scale
        scale *= len(plan) / MAX_CHUNKS * 1.05


@registry.function("media.plan_chunks", queue=QUEUE_MEDIA, timeout_s=60)
def plan_fn(
    ctx: TaskContext,
    video: Mapping[str, Any],
    *,
    policy: Mapping[str, Any] | None = None,
    recipes: Sequence[Mapping[str, Any]] | None = None,
    ladder: Sequence[Mapping[str, Any]] | None = None,
    complexity: Path | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The chunk plan for ``video`` (:func:`~darkroom.services.inspection.video_facts`).

    ``ladder``: recipes already fitted (a ladder step's); else ``recipes`` (``None``: the default
    ladder) are fitted here; ``complexity`` (the analysis' JSON file, or its dict) gives the scene cuts that
    chunk boundaries prefer. Returns ``chunks`` ({chunked, reason, plan}), ``recipes``, ``fps``,
    ``frames`` and ``keyint``.
    """
    try:
        rules = ChunkPolicy.model_validate(dict(policy or {}))
    except ValueError as exc:
        raise PermanentError(f"chunk policy: {exc}") from exc
    fps, frames = float(video["fps"]), int(video["frames"])
    if not fps > 0 or frames < 1:
        raise PermanentError(f"cannot plan an encode of {frames} frames at {fps} fps")
    if ladder:
        chosen = [Recipe.from_dict(r) for r in ladder]
    else:
        chosen = fitted_recipes(recipes, video["width"], video["height"])
    keyint = math.lcm(*(r.keyint(fps) for r in chosen))
    duration = frames / fps
    chunked, reason = chunk_reason(rules, duration, fps)
    if chunked:
        cuts = Complexity.load(complexity).cuts if complexity else []
        plan, scale = _capped_plan(duration, fps, keyint, cuts, rules)
        if len(plan) == 1:
            chunked, reason = False, f"{reason}, but the title fits one chunk"
        elif scale > 1.0:
            reason = (
                f"{reason}; chunks of about {rules.target_s * scale:.0f} s instead of {rules.target_s:g} s "
                f"keep this {duration / 3600:.1f} h title within {MAX_CHUNKS} chunks"
            )
    else:
        plan = [Chunk(index=0, start_s=0.0, duration_s=duration, start_frame=0, frames=frames)]
    ctx.progress(1.0, f"{len(plan)} chunk(s)")
    return {
        "chunks": {"chunked": chunked, "reason": reason, "plan": [c.to_dict() for c in plan]},
        "recipes": [r.to_dict() for r in chosen],
        "fps": fps,
        "frames": frames,
        "keyint": keyint,
    }
