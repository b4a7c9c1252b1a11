"""Job records written by worker processes: stdlib only, so any interpreter can import it.

One line per job: ``enqueued_at started_at done_at`` (epoch seconds). A daemon thread appends
the lines to the worker's file every few milliseconds, so the orchestrator can count progress
and the file is complete even when the worker is killed.
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

__all__ = ["Recorder", "read_records"]

_FLUSH_S = 0.02


class Recorder:
    """Thread-safe: jobs may run on many threads of one process."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._pending: collections.deque[str] = collections.deque()
        self._fh = self._path.open("a", encoding="ascii")
        self._thread = threading.Thread(target=self._flush_forever, name="bench-recorder", daemon=True)
        self._thread.start()

    def record(self, enqueued_at: float, started_at: float | None = None, done_at: float | None = None) -> None:
        now = time.time()
        start = now if started_at is None else started_at
        done = now if done_at is None else done_at
        self._pending.append(f"{enqueued_at:.6f} {start:.6f} {done:.6f}\n")

    def flush(self) -> None:
        lines = []
        try:
            while True:
                lines.append(self._pending.popleft())
        except IndexError:
            pass
        if lines:
            self._fh.write("".join(lines))
            self._fh.flush()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(_FLUSH_S)
            self.flush()


def read_records(paths: list[Path]) -> list[tuple[float, float, float]]:
    """Every complete record in the files (a torn last line is skipped)."""
    out: list[tuple[float, float, float]] = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(encoding="ascii").splitlines():
            parts = line.split()
            if len(parts) == 3:
                out.append((float(parts[0]), float(parts[1]), float(parts[2])))
    return out
