"""The runtime: functions and the workers that run them, workflows (DAGs with map/reduce) and the
engine that advances them, and long-running operations.

The names most programs need are here::

    from darkroom.runtime import Registry, TaskContext, Workflow, Worker, Engine, connect

Each is imported when first used (module ``__getattr__``), so importing this package costs
nothing more than itself: ``darkroom.runtime.functions`` does not pull in the worker, the engine
or SQLAlchemy, and no submodule importing a sibling through this package makes a cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from darkroom.queue import connect
    from darkroom.runtime.context import TaskContext
    from darkroom.runtime.functions import Registry
    from darkroom.runtime.worker import Worker
    from darkroom.runtime.workflow.dag import StepOptions, Workflow
    from darkroom.runtime.workflow.engine import Engine

__all__ = ["Engine", "Registry", "StepOptions", "TaskContext", "Worker", "Workflow", "connect"]

_HOMES = {
    "Engine": "darkroom.runtime.workflow.engine",
    "Registry": "darkroom.runtime.functions",
    "StepOptions": "darkroom.runtime.workflow.dag",
    "TaskContext": "darkroom.runtime.context",
    "Worker": "darkroom.runtime.worker",
    "Workflow": "darkroom.runtime.workflow.dag",
    "connect": "darkroom.queue",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
