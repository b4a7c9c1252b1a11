"""The HTTP edge's error rate and p99 over the last minutes, judged by Darkroom itself where no
Prometheus runs: the ``http_errors`` and ``http_latency`` checks.

The counters are the ones the edge exports (``web/telemetry.py``): ``darkroom_http_requests_total``
and the ``darkroom_http_request_duration_seconds`` histogram, read from a registry in this process
(the app's own, or the multiprocess directory of ``darkroom http --workers N``) or scraped from an
HTTP server's ``/metrics``. :class:`HttpWindow` keeps a few readings (bounded) and answers the
difference between now and the oldest reading in the window: a rate between samples, as
``rate(…[5m])`` is. Without a reading in the window it takes the newest before it (the window
stretches to the previous look); without any, the counters' start (the server's start).
"""

from __future__ import annotations

import math
import urllib.request
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = [
    "HttpCounts",
    "HttpRates",
    "HttpSource",
    "HttpWindow",
    "RegistrySource",
    "ScrapeSource",
    "counts_of",
    "multiprocess_source",
    "quantile",
]

REQUESTS = "darkroom_http_requests_total"
BUCKETS = "darkroom_http_request_duration_seconds_bucket"
WINDOW_S = 300.0  # the DarkroomHttpErrors / DarkroomHttpLatency rules' [5m]
MAX_READINGS = 64  # kept at most (a look every 10 s fills 30 in the window)


@dataclass(frozen=True, slots=True)
class HttpCounts:
    """Cumulative counts: requests, those answered 5xx, and the duration buckets summed over routes
    (``(le, count)``, ascending, ``+Inf`` last)."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()

    def since(self, earlier: HttpCounts) -> HttpCounts:
        """The increase from ``earlier``; counters that went down (a restarted server) count from 0."""
        if self.requests < earlier.requests:
            return self
        before = dict(earlier.buckets)
        return HttpCounts(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            tuple((le, n - before.get(le, 0.0)) for le, n in self.buckets),
        )


@dataclass(frozen=True, slots=True)
class HttpRates:
    """What happened in the window: requests, the 5xx share, the p99 (None without a request)."""

    seconds: float  # the window's actual length (0: since the counters' start)
    requests: float
    error_ratio: float
    p99_s: float | None


def counts_of(samples: Iterable[Sample]) -> HttpCounts:
    """The edge's cumulative counts among ``samples`` (every other series ignored)."""
    requests = errors = 0.0
    buckets: dict[float, float] = {}
    for s in samples:
        if s.name == REQUESTS:
            requests += s.value
            if s.labels.get("status", "").startswith("5"):
                errors += s.value
        elif s.name == BUCKETS:
            le = float(s.labels["le"])
            buckets[le] = buckets.get(le, 0.0) + s.value
    return HttpCounts(requests, errors, tuple(sorted(buckets.items())))


def quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """``histogram_quantile(q, …)`` over cumulative ``(le, count)`` buckets: linear within the
    bucket holding the rank, the highest finite bound when the rank is in ``+Inf``."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_le, lower_n = 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if math.isinf(le):
                return lower_le
            return lower_le + (le - lower_le) * ((rank - lower_n) / (n - lower_n) if n > lower_n else 1.0)
        lower_le, lower_n = le, n
    return lower_le


class HttpSource(Protocol):
    """Where the HTTP counters are read; ``where`` names it in messages."""

    where: str

    def samples(self) -> Iterable[Sample]: ...


class RegistrySource:
    """A registry of this process (the HTTP app's, or one over a multiprocess directory)."""

    def __init__(self, registry: CollectorRegistry, where: str = "this process") -> None:
        self.registry = registry
        self.where = where

    def samples(self) -> Iterable[Sample]:
        return [s for family in self.registry.collect() for s in family.samples]


class ScrapeSource:
    """An HTTP server's ``/metrics``, fetched (``darkroom up`` reads its HTTP child's this way)."""

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.where = url
        self.timeout_s = timeout_s

    def samples(self) -> Iterable[Sample]:
        with urllib.request.urlopen(self.where, timeout=self.timeout_s) as answer:
            text = answer.read().decode()
        return [s for family in text_string_to_metric_families(text) for s in family.samples]


def multiprocess_source(directory: Path) -> RegistrySource:
    """The counters every worker process of ``darkroom http --workers N`` writes under
    ``directory`` (read as they are: the supervisor owns the directory)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return RegistrySource(registry, str(directory))


class HttpWindow:
    """Readings of one source, bounded, and the increase over the last ``window_s``."""

    def __init__(self, source: HttpSource, *, window_s: float = WINDOW_S, max_readings: int = MAX_READINGS) -> None:
        self.source = source
        self.window_s = window_s
        self._readings: deque[tuple[float, HttpCounts]] = deque(maxlen=max_readings)

    def observe(self, now_s: float) -> HttpRates:
        """Read the source now (``OSError`` when it cannot be read) and answer the window's rates."""
        counts = counts_of(self.source.samples())
        since_s = now_s - self.window_s
        inside = [r for r in self._readings if r[0] >= since_s]
        before = [r for r in self._readings if r[0] < since_s]
        start_s, base = inside[0] if inside else before[-1] if before else (now_s, HttpCounts())
        # keep the window's readings and the newest one before it (the next look's fallback)
        kept = before[-1:] + inside
        self._readings.clear()
        self._readings.extend([*kept, (now_s, counts)])
        delta = counts.since(base)
        ratio = delta.errors / delta.requests if delta.requests > 0 else 0.0
        return HttpRates(now_s - start_s, delta.requests, ratio, quantile(0.99, delta.buckets))
