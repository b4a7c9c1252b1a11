"""Parking: finished map items of a worker held back a moment, so that one pass settles several.

A pass per item costs the worker's process more CPU than a small item itself. A finished task
parks while another task of its run still runs in this worker (a map's items); never a run's last
task here (a chain's step, a map's last item in this worker): that one settles at once, with
everything parked. docs/runtime.md, "Workers that advance their runs", has the bounds.
"""

from __future__ import annotations

import time

from darkroom.runtime.attempt import Finished
from darkroom.runtime.slots import Slots

__all__ = ["PARK_MAX", "PARK_MIN_LEFT_S", "PARK_S", "Parking"]

PARK_S = 0.05  # a finished map item waits at most this long for a sibling, to settle with it
PARK_MAX = 32  # and at most this many wait together
PARK_MIN_LEFT_S = 2.0  # and only a task whose lease has this long left (its lease is not extended meanwhile)


class Parking:
    """Finished tasks waiting for a sibling, decided under the slots' lock (what runs and what
    parks are one decision)."""

    def __init__(self, slots: Slots) -> None:
        self.slots = slots
        self._parked: list[Finished] = []
        self._since = 0.0

    def __bool__(self) -> bool:
        return bool(self._parked)

    def park(self, done: Finished) -> bool:
        """Hold back the report of a task while another task of its run still runs in this worker
        (a map's items), so that one pass settles several: a pass per item costs the worker's
        process more CPU than a small item itself. Never a run's last task here (a chain's step,
        a map's last item in this worker): that one settles at once, with everything parked. At
        most PARK_MAX tasks, parked at most PARK_S (the settler settles them then), so progress
        lags a little; a task whose lease has less than PARK_MIN_LEFT_S left never parks, so no
        parked task's lease (not extended by the heartbeat) runs out."""
        spec = done.task.spec
        if spec is None or spec.workflow_id is None or not done.ok:
            return False
        now = time.monotonic()
        if done.task.extended + done.task.lease_s - now < PARK_MIN_LEFT_S:
            return False  # a short lease (or one the heartbeat is late with): settle it now
        with self.slots.lock:
            if len(self._parked) >= PARK_MAX or (self._parked and now - self._since >= PARK_S):
                return False
            if not self.slots.runs_task_of(spec.workflow_id):
                return False
            if not self._parked:
                self._since = now
            self._parked.append(done)
        return True

    def take(self, older_than_s: float = 0.0) -> list[Finished]:
        """Every parked task, if the first parked ``older_than_s`` ago or earlier (else none)."""
        with self.slots.lock:
            if not self._parked or time.monotonic() - self._since < older_than_s:
                return []
            out, self._parked = self._parked, []
        return out
