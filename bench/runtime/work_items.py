"""The real work of the ``map-cpu`` and ``map-sleep`` scenarios, the same for every system.

Standard library only: both sides (the project's venv and the peers' venv) import it. Each item
measures its own task time, so the harness computes the ideal from what the items really took:
``burn`` answers the CPU seconds of its thread (``time.thread_time``: what a core spent on it,
unaffected by waiting for a core), ``nap`` the wall seconds it slept.
"""

from __future__ import annotations

import time

__all__ = ["BURN_ROUNDS", "NAP_S", "burn", "nap"]

BURN_ROUNDS = 60_000  # about 4-5 ms of pure-Python arithmetic on this machine class
NAP_S = 0.05


def burn(rounds: int = BURN_ROUNDS) -> float:
    """Pure-Python arithmetic (holds the GIL throughout); answers its CPU seconds."""
    start = time.thread_time()
    acc = 0
    for i in range(rounds):
        acc = (acc * 31 + i) % 1_000_003
    if acc < 0:  # never: keeps the loop's result alive
        raise AssertionError(acc)
    return time.thread_time() - start


def nap(seconds: float = NAP_S) -> float:
    """Waits as an I/O call does (no CPU); answers the seconds it slept."""
    start = time.perf_counter()
    time.sleep(seconds)
    return time.perf_counter() - start
