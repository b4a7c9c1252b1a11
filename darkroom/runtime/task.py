"""What travels on the queue for one function call, and what comes back.

A task message's payload is :class:`TaskSpec` as compact JSON (versioned, never pickle); its id is
``<workflow>:<step>:<index>`` so the engine can enqueue it again after a crash and the queue's
idempotent enqueue keeps one copy. A batch of map items (``Function.batch``) is one message, named
after its first item. A finished task reports a :class:`TaskOutcome`, one per item.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any

from darkroom.runtime.errors import InvalidWorkflow

__all__ = ["TaskOutcome", "TaskSpec", "dumps", "task_id"]

_VERSION = 1
_VERSION_BATCH = 2  # a payload with a batch: a worker that predates batches refuses it by its version


def dumps(value: object) -> bytes:
    """Deterministic compact JSON: the same task always encodes to the same bytes (idempotent enqueue)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _fields_json(obj: Any, names: tuple[str, ...], **more: Any) -> bytes:
    """``dumps`` of a dataclass's fields, one level deep: ``asdict``'s deep copy of the values
    cost more than their encoding (twice per step of a chain). A dataclass nested in a value is
    still encoded as ``asdict`` would have it, so the bytes are the same as before."""
    value = {**more, **{n: getattr(obj, n) for n in names}}
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_nested_dataclass
    ).encode()


def _nested_dataclass(value: object) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def task_id(workflow_id: str, step: str, idx: int) -> str:
    return f"{workflow_id}:{step}:{idx}"


@dataclass(frozen=True)
class TaskSpec:
    """One function call; with ``batch``, several map items: item ``j`` is called with ``args``
    plus ``{item_arg: batch[j]}`` and is item ``idx + j`` of its step."""

    fn: str
    args: dict[str, Any]
    workflow_id: str | None = None
    step: str | None = None
    idx: int = 0
    timeout_s: float | None = None
    batch: list[Any] | None = None
    item_arg: str = "item"

    @property
    def count(self) -> int:
        """The items this task runs."""
        return 1 if self.batch is None else len(self.batch)

    def items(self) -> list[TaskSpec]:
        """One spec per item (just this one when it is not a batch)."""
        if self.batch is None:
            return [self]
        return [
            replace(self, args={**self.args, self.item_arg: value}, idx=self.idx + j, batch=None)
            for j, value in enumerate(self.batch)
        ]

    def encode(self) -> bytes:
        if self.batch is None:  # the payload of a single call stays as it always was
            return _fields_json(self, _SPEC_SINGLE, v=_VERSION)
        return _fields_json(self, _SPEC_ALL, v=_VERSION_BATCH)

    @classmethod
    def decode(cls, raw: bytes) -> TaskSpec:
        try:
            data = json.loads(raw)
            version = data.pop("v")
            if version not in (_VERSION, _VERSION_BATCH) or (version == _VERSION) == ("batch" in data):
                raise ValueError(f"unknown version {version!r}")
            spec = cls(**data)
            if not isinstance(spec.fn, str) or not isinstance(spec.args, dict):
                raise TypeError("fn must be a string and args an object")
            if spec.batch is not None and (not isinstance(spec.batch, list) or not spec.batch):
                raise TypeError("batch must be a non-empty list")
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
        return _fields_json(self, _OUTCOME_ALL)

    @classmethod
    def decode(cls, raw: bytes) -> TaskOutcome:
        return cls(**json.loads(raw))


_SPEC_ALL = tuple(f.name for f in fields(TaskSpec))
_SPEC_SINGLE = tuple(n for n in _SPEC_ALL if n not in ("batch", "item_arg"))
_OUTCOME_ALL = tuple(f.name for f in fields(TaskOutcome))
