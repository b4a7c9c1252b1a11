"""One set of series per registry: a second app or dependency set built over the same
:class:`~prometheus_client.CollectorRegistry` (a test's second app, a ``dataclasses.replace``d
``WebDeps``) shares the first one's metrics instead of registering the names again, which
prometheus_client refuses (``Duplicated timeseries``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry

__all__ = ["metrics_for"]

T = TypeVar("T")

_made: WeakKeyDictionary[CollectorRegistry, dict[Callable[[CollectorRegistry], object], object]] = WeakKeyDictionary()
_lock = threading.Lock()


def metrics_for(registry: CollectorRegistry, make: Callable[[CollectorRegistry], T]) -> T:
    """``make(registry)``, made once per registry and kept as long as the registry lives."""
    with _lock:
        kept = _made.setdefault(registry, {})
        found = kept.get(make)
        if found is None:
            found = kept[make] = make(registry)
        return found  # type: ignore[return-value]
