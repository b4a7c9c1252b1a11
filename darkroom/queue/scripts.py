"""The Lua scripts, each prefixed with the shared prelude ``lua/_lib.lua``."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["SCRIPT_NAMES", "source"]

SCRIPT_NAMES = (
    "cancel",
    "create_queue",
    "dequeue",
    "dequeue_any",
    "enqueue",
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
    return _read("_lib.lua") + "\n" + _read(f"{name}.lua")
