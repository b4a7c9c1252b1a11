"""What travels on the queue for one function call, and what comes back.

A task message's payload is :class:`TaskSpec` as compact JSON (versioned, never pickle); its id is
``<workflow>:<step>:<index>`` so the engine can enqueue it again after a crash and the queue's
idempotent enqueue keeps one copy. A finished task reports a :class:`TaskOutcome`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from darkroom.runtime.errors import InvalidWorkflow

__all__ = ["TaskOutcome", "TaskSpec", "dumps", "task_id"]

_VERSION = 1


def dumps(value: Any) -> bytes:
    """Deterministic compact JSON: the same task always encodes to the same bytes (idempotent enqueue)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def task_id(workflow_id: str, step: str, idx: int) -> str:
    return f"{workflow_id}:{step}:{idx}"


@dataclass(frozen=True)
class TaskSpec:
    fn: str
    args: dict[str, Any]
    workflow_id: str | None = None
    step: str | None = None
    idx: int = 0
    timeout_s: float | None = None

    def encode(self) -> bytes:
        return dumps({"v": _VERSION, **asdict(self)})

    @classmethod
    def decode(cls, raw: bytes) -> TaskSpec:
        try:
            data = json.loads(raw)
            if data.pop("v") != _VERSION:
                raise ValueError("unknown version")
            spec = cls(**data)
            if not isinstance(spec.fn, str) or not isinstance(spec.args, dict):
                raise TypeError("fn must be a string and args an object")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidWorkflow(f"malformed task payload {raw[:80]!r}: {exc}") from None
        return spec


@dataclass(frozen=True)
class TaskOutcome:
    """A task's report to its workflow: started, progress, succeeded or failed (final)."""

    state: str  # running | succeeded | failed
    attempt: int = 0
    worker: str = ""
    at: float = 0.0
    started: float | None = None  # when the attempt began (final reports; a start report's ``at``)
    output: Any = None
    error: str | None = None
    progress: float = 0.0
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes) -> TaskOutcome:
        return cls(**json.loads(raw))
