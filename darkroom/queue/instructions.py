"""The instructions a queue operation yields to its driver (see ``core``)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from darkroom.queue.calls import ScriptCall

__all__ = ["Arm", "Instruction", "Op", "Pipeline", "Script", "Wait"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Script:
    """Run the script of ``call`` (``calls``) with KEYS = [key]; ``name`` and ``args`` (its ARGV)
    are read off the call once, for the drivers."""

    key: str
    call: ScriptCall
    name: str = field(init=False)
    args: tuple[Any, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.call.script)
        object.__setattr__(self, "args", self.call.argv())


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
