"""The checks' recent history, kept small and bounded in Redis so every process (each HTTP worker,
``darkroom up``) reads and writes the same one: a list of JSON points, newest first, trimmed to
``max_points`` (an hour at 10 s), at most one point per ``resolution_s`` slot whoever records it.

Key schema (one namespace's): ``<ns>:health:history`` list of points; ``<ns>:health:slot:<n>``
the marker of slot ``n`` (``SET NX`` with a TTL: the first writer of a slot wins, the others skip).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from darkroom.observability.checks import Check, Status
from darkroom.observability.rules import for_of

__all__ = ["HealthHistory", "Point", "firing"]


@dataclass(frozen=True, slots=True)
class Point:
    """The checks at one moment: ``checks[name] = (status, value)``."""

    at_s: float
    checks: dict[str, tuple[Status, float | None]]

    def as_json(self) -> dict[str, object]:
        return {"t": round(self.at_s, 3), "c": {k: [s.value, v] for k, (s, v) in self.checks.items()}}

    @classmethod
    def from_json(cls, raw: bytes | str) -> Point:
        data = json.loads(raw)
        return cls(float(data["t"]), {k: (Status(s), v) for k, (s, v) in data["c"].items()})


class HealthHistory:
    def __init__(
        self, client: redis.Redis, namespace: str = "dr", *, resolution_s: float = 10.0, max_points: int = 360
    ) -> None:
        self.client = client
        self.key = f"{namespace}:health:history"
        self._slot = f"{namespace}:health:slot:"
        self.resolution_s = resolution_s
        self.max_points = max_points

    def record(self, at_s: float, checks: Sequence[Check]) -> bool:
        """Add a point unless this slot has one already; whether it was added."""
        slot = int(at_s // self.resolution_s)
        if not self.client.set(f"{self._slot}{slot}", 1, nx=True, ex=max(1, int(self.resolution_s * 2))):
            return False
        point = Point(at_s, {c.name: (c.status, c.value) for c in checks})
        pipe = self.client.pipeline(transaction=True)  # push and trim together: never longer than the bound
        pipe.lpush(self.key, json.dumps(point.as_json(), separators=(",", ":")))
        pipe.ltrim(self.key, 0, self.max_points - 1)
        pipe.execute()
        return True

    def points(self) -> list[Point]:
        """Oldest first."""
        raw = self.client.lrange(self.key, 0, self.max_points - 1)
        return [Point.from_json(r) for r in reversed(raw)]


def firing(points: Sequence[Point], check: str) -> Status:
    """The status ``check`` has held for its rules' ``for`` (``rules.for_of``) up to the newest
    point: what Prometheus would be alerting on, judged by Darkroom itself."""
    if not points:
        return Status.OK
    hold_s, newest = for_of(check), points[-1]
    for status in (Status.CRITICAL, Status.WARN):
        since: float | None = None
        for p in reversed(points):
            state = p.checks.get(check)
            if state is None or state[0].rank < status.rank:
                break
            since = p.at_s
        if since is not None and newest.at_s - since >= hold_s:
            return status
    return Status.OK
