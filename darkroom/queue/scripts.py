"""The Lua scripts, each prefixed with the shared prelude ``lua/_lib.lua``."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["SCRIPT_NAMES", "source"]

SCRIPT_NAMES = (
    "cancel",
    "create_queue",
    "delete_queue",
    "dequeue",
    "dequeue_any",
    "enqueue",
    "enqueue_lease",
    "extend",
    "query",
    "redrive",
    "settle",
    "sweep",
    "update",
    "update_queue",
)


def _read(name: str) -> str:
    return resources.files("darkroom.queue").joinpath("lua", name).read_text(encoding="utf-8")


@cache
def source(name: str) -> str:
    """The full text of script ``name`` as Redis runs it."""
    if name not in SCRIPT_NAMES:
        raise KeyError(name)
    if name == "enqueue_lease":
        # two scripts' bodies as functions of one call: the dequeue reads ARGV (as do _lib's helpers
        # it calls), the enqueue its own slice of it, passed as A
        enqueue = re.sub(r"\bARGV\[", "A[", _read("enqueue.lua"))
        return (
            _read("_lib.lua")
            + "\nlocal function dequeue_part()\n"
            + _read("dequeue.lua")
            + "\nend\nlocal function enqueue_part(A)\n"
            + enqueue
            + "\nend\n"
            + _read("enqueue_lease.lua")
        )
    return _read("_lib.lua") + "\n" + _read(f"{name}.lua")
