"""Metrics of several processes served as one: prometheus_client's multiprocess mode.

``darkroom http --workers N`` serves one address from N processes; a scrape of any one of them
would see a third of the traffic. So the supervisor names a directory in
``PROMETHEUS_MULTIPROC_DIR`` before it starts the workers (started fresh, they read it when they
import prometheus_client), each worker's counters and histograms live in memory-mapped files
there, and the supervisor's ``/metrics`` adds them up (``MultiProcessCollector``). The directory
is emptied at start: files of an earlier run would be counted again. A worker that dies and is
replaced leaves its file, so its counts stay in the totals, as a counter's must.

Process collectors (CPU, memory, GC) are not added: they would describe the supervisor alone.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["MULTIPROC_ENV", "shared_registry"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def shared_registry(directory: Path) -> CollectorRegistry:
    """Empty ``directory`` (made, mode 0700), name it to the processes started from here on, and
    answer a registry that adds up what they write there."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return registry
