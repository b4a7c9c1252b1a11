"""What every log line of the current request or task carries: ``request_id``, ``workflow_id``,
``step`` and ``task_id``, in :mod:`contextvars` (so each asyncio task and each thread sees its own).

The HTTP edge sets the request id, a worker the task's workflow, step and id while it runs; the
log formatter (``observability/logs.py``) reads them. It sits at the bottom of the package tree,
importing nothing, so every layer that knows an id can set it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FIELDS", "current", "log_context"]

FIELDS = ("request_id", "workflow_id", "step", "task_id")

_VARS: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"darkroom_{name}", default=None) for name in FIELDS
}


def current() -> dict[str, str]:
    """The ids set in this context (only those that are set)."""
    out = {}
    for name, var in _VARS.items():
        value = var.get()
        if value is not None:
            out[name] = value
    return out


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Set ``ids`` (names from :data:`FIELDS`; None leaves one unset) for the ``with`` block."""
    tokens = []
    try:
        for name, value in ids.items():
            var = _VARS.get(name)
            if var is None:
                raise TypeError(f"log context field {name!r} is not one of {FIELDS}")
            tokens.append((var, var.set(value)))
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
