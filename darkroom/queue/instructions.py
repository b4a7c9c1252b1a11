"""The instructions a queue operation yields to its driver (see ``core``), and ``UNSET``."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

__all__ = ["UNSET", "Arm", "Instruction", "Op", "Pipeline", "Script", "Unset", "Wait"]

T = TypeVar("T")


class Unset:
    """The type of ``UNSET``: "leave this field as it is" (``None`` would mean "clear it")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()


@dataclass(frozen=True, slots=True)
class Script:
    """Run the Lua script ``name`` with KEYS = [key] and ARGV = args."""

    name: str
    key: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Run commands in one round trip (no MULTI); the reply is the list of their replies."""

    commands: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class Arm:
    """Start listening for wake-ups of a queue; the reply is the current generation."""

    queue: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Block until the queue's generation moves past ``generation`` or ``timeout_s`` passes
    (or, with ``also``, until any of those queues' generations moves past theirs)."""

    queue: str
    generation: int
    timeout_s: float
    also: tuple[tuple[str, int], ...] = ()


Instruction = Script | Pipeline | Arm | Wait
Op = Generator[Instruction, Any, T]
