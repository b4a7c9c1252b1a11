"""Chunked encoding policy: whether to split a title, and where.

:func:`plan_chunks` collates scene cuts into chunks of about ``target_s``; every boundary is on a
multiple of ``keyint`` frames, so the concatenated chunks keep the GOP (and packaging segment) grid
of a single-pass encode, and the chunks cover every frame exactly once. :func:`should_chunk` is the
rule for when chunking pays off at all (see ``docs/media.md``, "Chunked encoding").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from darkroom.media.errors import InvalidMedia

__all__ = ["LONG_TITLE_S", "Chunk", "plan_chunks", "should_chunk"]

# Past this length a title is chunked whenever several workers exist, even if one pass would meet
# the latency target: a lost worker then costs one chunk, not a whole hour of encoding.
LONG_TITLE_S = 600.0


@dataclass(frozen=True)
class Chunk:
    """Frames ``[start_frame, start_frame + frames)``; times are those frames at the source's fps."""

    index: int
    start_s: float
    duration_s: float
    start_frame: int
    frames: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_chunks(
    duration_s: float,
    fps: float,
    keyint: int,
    scene_cuts: Sequence[float],
    *,
    target_s: float = 30.0,
    min_s: float = 10.0,
) -> list[Chunk]:
    """Split ``duration_s`` at ``fps`` into chunks on the keyint grid, preferring scene cuts.

    Boundaries are whole GOPs. From each chunk start, the next boundary is the (GOP-snapped) scene
    cut nearest to ``target_s`` among those giving a chunk of ``min_s`` to ~1.5x ``target_s`` and
    leaving at least ``min_s`` behind; without such a cut, the grid point nearest ``target_s``.
    A tail that would be shorter than a chunk's maximum is kept whole, so only a title shorter than
    ``min_s`` yields a chunk shorter than ``min_s``.
    """
    if not fps > 0 or not math.isfinite(fps):
        raise InvalidMedia(f"frame rate {fps!r} must be positive to plan chunks", code="bad_fps")
    if isinstance(keyint, bool) or not isinstance(keyint, int) or keyint < 1:
        raise InvalidMedia(f"keyint {keyint!r} must be a positive integer", code="bad_recipe")
    if not 0 < min_s <= target_s:
        raise InvalidMedia(f"chunk sizes min_s={min_s!r}, target_s={target_s!r} need 0 < min <= target")
    total = round(duration_s * fps) if math.isfinite(duration_s) else 0
    if total < 1:
        raise InvalidMedia(f"duration {duration_s!r}s at {fps:g} fps has no frames to chunk", code="bad_range")
    # Work in GOPs: any boundary that is a whole number of GOPs keeps the title's keyframe grid.
    min_g = max(1, math.ceil(min_s * fps / keyint - 1e-9))
    target_g = max(min_g, round(target_s * fps / keyint))
    max_g = target_g + max(min_g, target_g // 2)
    cut_gops = sorted({round(c * fps / keyint) for c in scene_cuts if math.isfinite(c) and c > 0})
    bounds = [0]
    start = 0
    while total - start * keyint > max_g * keyint:
        # Cuts that make a chunk of [min, max] GOPs and leave a tail of at least min GOPs.
        fits = [g for g in cut_gops if min_g <= g - start <= max_g and total - g * keyint >= min_g * keyint]
        end = min(fits, key=lambda g: (abs(g - start - target_g), g)) if fits else start + target_g
        bounds.append(end)
        start = end
    frames = [b * keyint for b in bounds] + [total]
    return [
        Chunk(index=i, start_s=a / fps, duration_s=(b - a) / fps, start_frame=a, frames=b - a)
        for i, (a, b) in enumerate(itertools.pairwise(frames))
    ]


def should_chunk(
    duration_s: float,
    workers_available: int,
    latency_target_s: float,
    est_encode_fps: float,
    fps: float,
    *,
    min_chunks: int = 2,
    min_s: float = 10.0,
) -> bool:
    """Whether a chunked encode should beat one pass.

    ``workers_available`` counts worker slots that do not share cores (in practice: hosts). With
    one, never chunk: x264 already fills a host's cores, and parallel chunks on one 2-core host ran
    at 0.82-0.98x a single pass. With several, chunk when the single-pass estimate
    (``duration_s * fps / est_encode_fps``) misses ``latency_target_s``, or the title is long
    (:data:`LONG_TITLE_S`) so a lost worker costs one chunk; and only if at least ``min_chunks``
    chunks of ``min_s`` fit, or the split overhead (seek, verify, concat) is not worth it.
    """
    if workers_available < 2 or duration_s < min_chunks * min_s:
        return False
    if not est_encode_fps > 0 or not fps > 0:
        return True  # no speed estimate: assume the worst and spread the work
    single_pass_s = duration_s * fps / est_encode_fps
    return single_pass_s > latency_target_s or duration_s >= LONG_TITLE_S
