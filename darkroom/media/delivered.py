"""The ladder as delivered: whole-title renditions measured against the hull points they were
chosen at, and the ladder corrected from that measurement before it is packaged.

Trials score samples; the renditions are whole titles. :func:`check_delivered` compares each
rendition's measured video bitrate and VMAF with its rung (within ``Tolerance``), drops renditions
under the VMAF floor, renditions no better than a cheaper one and renditions too close in bitrate
to the one above, and names the rest after what they deliver (``360p-575k``). Pure functions;
the service step is ``media.ladder_check`` (``docs/media.md``, *The ladder as delivered*).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from darkroom.media.errors import InvalidMedia
from darkroom.media.hull import Point, bd_rate

__all__ = ["DeliveredLadder", "DeliveredRung", "Drop", "Measured", "Tolerance", "check_delivered", "rung_name"]


@dataclass(frozen=True)
class Tolerance:
    """How far a whole-title rendition may land from its hull point: ``bitrate_ratio`` of the
    point's bitrate either way, ``vmaf`` points either way."""

    bitrate_ratio: float = 0.15
    vmaf: float = 3.0

    def __post_init__(self) -> None:
        if not 0 < self.bitrate_ratio < 1 or not 0 < self.vmaf <= 100:
            raise InvalidMedia(f"tolerance bitrate_ratio={self.bitrate_ratio!r} vmaf={self.vmaf!r} is out of range",
                               code="bad_ladder")  # fmt: skip


@dataclass(frozen=True)
class Measured:
    """One whole-title rendition as delivered: video bitrate (kbit/s) and pooled VMAF (``None``
    when VMAF was not measured)."""

    name: str
    resolution_height: int
    bitrate_kbps: float
    vmaf: float | None = None
    vmaf_p5: float | None = None


class Drop(StrEnum):
    """Why a delivered rendition left the ladder."""

    FLOOR = "floor"  # pooled VMAF under the floor
    DOMINATED = "dominated"  # no better than a cheaper rendition
    STEP = "step"  # needs more than 1/min_step_ratio of the bits of the rendition above it


@dataclass(frozen=True)
class DeliveredRung:
    """A rendition next to the rung it was planned at. ``name`` is the delivered name;
    ``bitrate_error_percent``/``vmaf_error`` are delivered minus planned (``None`` without a
    plan or a VMAF); ``drop`` is why it was left out, ``None`` when kept."""

    planned_name: str
    name: str
    planned: Point | None
    measured: Measured
    bitrate_error_percent: float | None
    vmaf_error: float | None
    within_tolerance: bool | None
    drop: Drop | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "planned_name": self.planned_name, "name": self.name,
            "planned": None if self.planned is None else self.planned.to_dict(),
            "measured": asdict(self.measured), "bitrate_error_percent": self.bitrate_error_percent,
            "vmaf_error": self.vmaf_error, "within_tolerance": self.within_tolerance,
            "kept": self.drop is None, "drop": None if self.drop is None else self.drop.value,
        }  # fmt: skip


@dataclass(frozen=True)
class DeliveredLadder:
    """Every rendition top first (kept and dropped), the floor applied and the delivered BD-rate
    (kept renditions against ``anchor``, the fixed ladder measured the same way; ``None`` when
    there is no anchor curve or the curves share no VMAF range)."""

    rungs: tuple[DeliveredRung, ...]
    floor_vmaf: float | None
    tolerance: Tolerance = field(default_factory=Tolerance)
    bd_rate_percent: float | None = None

    @property
    def kept(self) -> tuple[DeliveredRung, ...]:
        return tuple(r for r in self.rungs if r.drop is None)

    @property
    def points(self) -> list[Point]:
        """The kept renditions as rate-quality points (those with a VMAF), by increasing bitrate."""
        pts = [Point(r.measured.resolution_height, r.planned.crf if r.planned else -1, r.measured.bitrate_kbps,
                     r.measured.vmaf) for r in self.kept if r.measured.vmaf is not None]  # fmt: skip
        return sorted(pts, key=lambda p: p.bitrate_kbps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rungs": [r.to_dict() for r in self.rungs], "floor_vmaf": self.floor_vmaf,
            "tolerance": asdict(self.tolerance), "bd_rate_percent": self.bd_rate_percent,
            "within_tolerance": all(r.within_tolerance is not False for r in self.rungs),
        }  # fmt: skip


def rung_name(height: int, bitrate_kbps: float) -> str:
    """``360p-575k``: the picture height and the video bitrate the rendition delivers."""
    return f"{height}p-{round(bitrate_kbps)}k"


def _errors(planned: Point | None, m: Measured, tol: Tolerance) -> tuple[float | None, float | None, bool | None]:
    if planned is None or not planned.bitrate_kbps > 0:
        return None, None, None
    rate_err = (m.bitrate_kbps / planned.bitrate_kbps - 1) * 100
    vmaf_err = None if m.vmaf is None else m.vmaf - planned.vmaf
    ok = abs(rate_err) <= tol.bitrate_ratio * 100 + 1e-9 and (vmaf_err is None or abs(vmaf_err) <= tol.vmaf + 1e-9)
    return round(rate_err, 2), None if vmaf_err is None else round(vmaf_err, 2), ok


def check_delivered(
    measured: Sequence[Measured],
    planned: Sequence[Point | None],
    *,
    floor_vmaf: float | None,
    min_step_ratio: float = 1.5,
    tolerance: Tolerance | None = None,
    correct: bool = True,
    anchor: Sequence[Point] = (),
) -> DeliveredLadder:
    """Compare each rendition with its planned rung (``planned[i]`` for ``measured[i]``, ``None``
    when it had none) and, with ``correct``, correct the ladder: drop renditions under
    ``floor_vmaf``, then (cheapest up) renditions no better than a cheaper kept one, then (top
    down) renditions needing more than ``1 / min_step_ratio`` of the bits of the one above, and
    name the rest :func:`rung_name` of what they deliver. The best rendition is always kept."""
    if len(measured) != len(planned):
        raise InvalidMedia(f"{len(measured)} renditions measured for {len(planned)} planned rungs", code="bad_ladder")
    if min_step_ratio < 1.0:
        raise InvalidMedia(f"min_step_ratio={min_step_ratio!r} must be >= 1", code="bad_ladder")
    tol = tolerance or Tolerance()
    rows = [
        DeliveredRung(m.name, m.name, p, m, *_errors(p, m, tol))
        for m, p in sorted(zip(measured, planned, strict=True), key=lambda mp: -mp[0].bitrate_kbps)
    ]
    if correct and rows:
        rows = _correct(rows, floor_vmaf, min_step_ratio)
    out = DeliveredLadder(tuple(rows), floor_vmaf, tol)
    bd: float | None = None
    if anchor:
        try:
            bd = bd_rate(sorted(anchor, key=lambda p: p.bitrate_kbps), out.points)
        except InvalidMedia:
            bd = None  # fewer than 2 rungs with a VMAF on either side, or no shared VMAF range
    return replace(out, bd_rate_percent=bd)


def _correct(rows: list[DeliveredRung], floor_vmaf: float | None, min_step_ratio: float) -> list[DeliveredRung]:
    drops: dict[int, Drop] = {}

    def vmaf(i: int) -> float:
        v = rows[i].measured.vmaf
        return -math.inf if v is None else v

    # The best VMAF (the cheapest of equals); without any VMAF, the top rendition.
    best = (
        max(range(len(rows)), key=lambda i: (vmaf(i), -rows[i].measured.bitrate_kbps))
        if any(r.measured.vmaf is not None for r in rows)
        else 0
    )
    if floor_vmaf is not None:
        for i, r in enumerate(rows):
            if i != best and r.measured.vmaf is not None and r.measured.vmaf < floor_vmaf:
                drops[i] = Drop.FLOOR
    cheapest_up = [i for i in reversed(range(len(rows))) if i not in drops]
    seen = -math.inf
    for i in cheapest_up:
        if rows[i].measured.vmaf is not None and vmaf(i) <= seen and i != best:
            drops[i] = Drop.DOMINATED
        seen = max(seen, vmaf(i))
    above: DeliveredRung | None = None
    for i, r in enumerate(rows):
        if i in drops:
            continue
        if above is not None and i != best and r.measured.bitrate_kbps * min_step_ratio > above.measured.bitrate_kbps:
            drops[i] = Drop.STEP
            continue
        above = r
    names: set[str] = set()
    out = []
    for i, r in enumerate(rows):
        name = rung_name(r.measured.resolution_height, r.measured.bitrate_kbps) if i not in drops else r.name
        while name in names:  # two renditions delivering the same rounded rate at one height
            name += "x"
        names.add(name)
        out.append(replace(r, name=name, drop=drops.get(i)))
    return out
