"""What a process of the platform agrees on with the supervisor that started it (``darkroom up``).

The supervisor names itself in :data:`SUPERVISOR_PID_ENV`; a child stops once it is gone
(:func:`stop_when_orphaned`), and a child that cannot load the app exits with
:data:`EXIT_APP_UNAVAILABLE` so that it is not restarted forever. A process started alone on
another host has no supervisor: none of this applies to it.
"""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["EXIT_APP_UNAVAILABLE", "SUPERVISOR_PID_ENV", "stop_when_orphaned"]

_log = logging.getLogger(__name__)

# ``darkroom worker`` / ``engine`` exit with this when the app does not import (EX_CONFIG of
# sysexits.h): restarting them would fail the same way.
EXIT_APP_UNAVAILABLE = 78
SUPERVISOR_PID_ENV = "DARKROOM_SUPERVISOR_PID"  # set for the children: the pid of their ``up``


def stop_when_orphaned(stop: threading.Event, *, poll_s: float = 1.0) -> None:
    """In a child of ``up`` (:data:`SUPERVISOR_PID_ENV` set): set ``stop`` once the parent is no
    longer that ``up`` (it died and the child was re-parented). A daemon thread; nothing elsewhere."""
    supervisor = os.environ.get(SUPERVISOR_PID_ENV, "")
    if not supervisor.isdigit():
        return

    def watch() -> None:
        while not stop.wait(poll_s):
            if os.getppid() != int(supervisor):
                _log.warning("darkroom up (pid %s) is gone; stopping", supervisor)
                stop.set()

    threading.Thread(target=watch, name="darkroom-orphan-watch", daemon=True).start()
