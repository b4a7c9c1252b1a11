"""The calls of the Lua scripts: one dataclass per script, its fields named, ``argv()`` its ARGV.

Every caller builds a script's ARGV here and nowhere else (the operations in ``core``, ``admin``,
``multi`` and ``handoff``, which every client and the gRPC server run), so the layout a script's
header describes is written once on the Python side too. Values arrive validated (``limits``);
these classes only lay them out. KEYS is always ``[Keys.prefix(queue)]``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from darkroom.queue.keys import CONF_FIELDS
from darkroom.unset import UNSET, Unset

__all__ = [
    "Arg",
    "Cancel",
    "CreateQueue",
    "DeleteQueue",
    "Dequeue",
    "DequeueAny",
    "DequeueSource",
    "Enqueue",
    "EnqueueItem",
    "EnqueueLease",
    "Extend",
    "Query",
    "Redrive",
    "ScriptCall",
    "Settle",
    "SettleAction",
    "SettleItem",
    "Sweep",
    "Update",
    "UpdateQueue",
    "criteria",
]

Arg = str | bytes | int
Criteria = tuple[tuple[str, str], ...]


class ScriptCall(Protocol):
    """A call of script ``script`` (``lua/<script>.lua``)."""

    script: ClassVar[str]

    def argv(self) -> tuple[Arg, ...]: ...


def criteria(where: Mapping[str, str]) -> Criteria:
    """``where`` as the scripts take it: pairs sorted by key."""
    return tuple(sorted(where.items()))


def _criteria_argv(pairs: Criteria) -> tuple[Arg, ...]:
    return (len(pairs), *(x for pair in pairs for x in pair))


def _fields_argv(fields: tuple[str, ...]) -> tuple[Arg, ...]:
    return (len(fields), *fields)


def _optional(value: int | None) -> Arg:
    return "" if value is None else value


def _settings_argv(name: str, settings: tuple[tuple[str, str], ...]) -> tuple[Arg, ...]:
    for field, _ in settings:
        if field not in CONF_FIELDS:
            raise ValueError(f"setting {field!r} is not a field of a queue's conf (keys.CONF_FIELDS)")
    return (name, *(x for pair in settings for x in pair))


# -- queues ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CreateQueue:
    """ARGV: name, then field/value pairs of the settings."""

    script: ClassVar[str] = "create_queue"
    name: str
    settings: tuple[tuple[str, str], ...]

    def argv(self) -> tuple[Arg, ...]:
        return _settings_argv(self.name, self.settings)


@dataclass(frozen=True, slots=True)
class UpdateQueue:
    """ARGV: name, then field/value pairs (mutable settings only)."""

    script: ClassVar[str] = "update_queue"
    name: str
    settings: tuple[tuple[str, str], ...]

    def argv(self) -> tuple[Arg, ...]:
        return _settings_argv(self.name, self.settings)


@dataclass(frozen=True, slots=True)
class DeleteQueue:
    """ARGV: name."""

    script: ClassVar[str] = "delete_queue"
    name: str

    def argv(self) -> tuple[Arg, ...]:
        return (self.name,)


@dataclass(frozen=True, slots=True)
class Sweep:
    """ARGV: name, limit, purge ('1'|'0')."""

    script: ClassVar[str] = "sweep"
    queue: str
    limit: int
    purge: bool

    def argv(self) -> tuple[Arg, ...]:
        return (self.queue, self.limit, "1" if self.purge else "0")


# -- enqueue --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EnqueueItem:
    """One message of an enqueue; ``fresh``: the id was just generated (a ULID), so it cannot
    exist yet and the script skips its existence check."""

    id: str
    payload: bytes
    meta_json: str
    deadline_ms: int | None  # None: the enqueue time
    delay_ms: int
    max_attempts: int | None  # None: the queue's
    digest: str
    fresh: bool

    def argv(self) -> tuple[Arg, ...]:
        return (
            self.id,
            self.payload,
            self.meta_json,
            _optional(self.deadline_ms),
            self.delay_ms,
            _optional(self.max_attempts),
            self.digest,
            "1" if self.fresh else "0",
        )


@dataclass(frozen=True, slots=True)
class Enqueue:
    """ARGV: name, n, then n x (id, payload, meta_json, deadline_ms|'', delay_ms, max_attempts|'',
    digest, fresh)."""

    script: ClassVar[str] = "enqueue"
    queue: str
    items: tuple[EnqueueItem, ...]

    def argv(self) -> tuple[Arg, ...]:
        out: list[Arg] = [self.queue, len(self.items)]
        for item in self.items:
            out += item.argv()
        return tuple(out)


# -- dequeue --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Dequeue:
    """ARGV: name, max_messages, lease_ms|'', n_criteria, n_criteria x (k, v), n_fields, field
    names (hash fields), waiter id|'', wait_ms."""

    script: ClassVar[str] = "dequeue"
    queue: str
    max_messages: int
    lease_ms: int | None  # None: the queue's
    criteria: Criteria
    fields: tuple[str, ...]
    waiter: str = ""  # names the client in `waiters` when the call finds nothing
    wait_ms: int = 0

    def argv(self) -> tuple[Arg, ...]:
        return (
            self.queue,
            self.max_messages,
            _optional(self.lease_ms),
            *_criteria_argv(self.criteria),
            *_fields_argv(self.fields),
            self.waiter,
            self.wait_ms,
        )


@dataclass(frozen=True, slots=True)
class DequeueSource:
    """One source of ``DequeueAny``: a queue (by its key prefix and name), criteria, a lease."""

    prefix: str
    queue: str
    lease_ms: int | None
    criteria: Criteria

    def argv(self) -> tuple[Arg, ...]:
        return (self.prefix, self.queue, _optional(self.lease_ms), *_criteria_argv(self.criteria))


@dataclass(frozen=True, slots=True)
class DequeueAny:
    """ARGV: max_messages, waiter id|'', wait_ms, n_fields, field names, n_sources, then per source:
    prefix, queue name, lease_ms|'', n_criteria, n_criteria x (k, v)."""

    script: ClassVar[str] = "dequeue_any"
    max_messages: int
    fields: tuple[str, ...]
    sources: tuple[DequeueSource, ...]
    waiter: str = ""
    wait_ms: int = 0

    def argv(self) -> tuple[Arg, ...]:
        return (
            self.max_messages,
            self.waiter,
            self.wait_ms,
            *_fields_argv(self.fields),
            len(self.sources),
            *(x for source in self.sources for x in source.argv()),
        )


@dataclass(frozen=True, slots=True)
class EnqueueLease:
    """ARGV: the dequeue's (no waiter), then the enqueue's; both on one queue."""

    script: ClassVar[str] = "enqueue_lease"
    dequeue: Dequeue
    enqueue: Enqueue

    def __post_init__(self) -> None:
        if self.dequeue.queue != self.enqueue.queue or self.dequeue.waiter:
            raise ValueError(f"enqueue_lease takes one queue and no waiter, not {self.dequeue} and {self.enqueue}")

    def argv(self) -> tuple[Arg, ...]:
        return (*self.dequeue.argv(), *self.enqueue.argv())


# -- leases ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Extend:
    """ARGV: name, id, token, lease_ms."""

    script: ClassVar[str] = "extend"
    queue: str
    id: str
    token: int
    lease_ms: int

    def argv(self) -> tuple[Arg, ...]:
        return (self.queue, self.id, self.token, self.lease_ms)


class SettleAction(enum.Enum):
    COMPLETE = "c"
    FAIL = "f"


@dataclass(frozen=True, slots=True)
class SettleItem:
    """One lease settled: completed with ``data`` as result, or failed with ``data`` as error
    (again while attempts remain when ``retry``, after ``retry_in_ms``)."""

    id: str
    token: int
    action: SettleAction
    data: bytes | str
    retry: bool
    retry_in_ms: int

    def argv(self) -> tuple[Arg, ...]:
        return (self.id, self.token, self.action.value, self.data, "1" if self.retry else "0", self.retry_in_ms)


@dataclass(frozen=True, slots=True)
class Settle:
    """ARGV: name, n, then n x (id, token, action 'c'|'f', result_or_error, retry '1'|'0',
    retry_in_ms)."""

    script: ClassVar[str] = "settle"
    queue: str
    items: tuple[SettleItem, ...]

    def argv(self) -> tuple[Arg, ...]:
        out: list[Arg] = [self.queue, len(self.items)]
        for item in self.items:
            out += item.argv()
        return tuple(out)


# -- single messages ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cancel:
    """ARGV: name, id."""

    script: ClassVar[str] = "cancel"
    queue: str
    id: str

    def argv(self) -> tuple[Arg, ...]:
        return (self.queue, self.id)


@dataclass(frozen=True, slots=True)
class Redrive:
    """ARGV: name, id."""

    script: ClassVar[str] = "redrive"
    queue: str
    id: str

    def argv(self) -> tuple[Arg, ...]:
        return (self.queue, self.id)


@dataclass(frozen=True, slots=True)
class Update:
    """ARGV: name, id, then field/value pairs among dl, meta, payload, delay_ms ('' clears the
    delay). ``UNSET`` leaves a field as it is."""

    script: ClassVar[str] = "update"
    queue: str
    id: str
    deadline_ms: int | Unset = UNSET
    meta_json: str | Unset = UNSET
    payload: bytes | Unset = UNSET
    delay_ms: int | Unset | None = UNSET  # None: no delay (visible now)

    def changes(self) -> tuple[Arg, ...]:
        out: list[Arg] = []
        if not isinstance(self.deadline_ms, Unset):
            out += ["dl", self.deadline_ms]
        if not isinstance(self.meta_json, Unset):
            out += ["meta", self.meta_json]
        if not isinstance(self.payload, Unset):
            out += ["payload", self.payload]
        if not isinstance(self.delay_ms, Unset):
            out += ["delay_ms", _optional(self.delay_ms)]
        return tuple(out)

    def argv(self) -> tuple[Arg, ...]:
        return (self.queue, self.id, *self.changes())


@dataclass(frozen=True, slots=True)
class Query:
    """ARGV: name, state set (a key suffix: pending, delayed, …), cursor_score|'', cursor_member|'',
    limit, budget, n_criteria, n_criteria x (k, v), n_fields, field names."""

    script: ClassVar[str] = "query"
    queue: str
    state_set: str
    cursor_score: str | bytes
    cursor_member: str | bytes
    limit: int
    budget: int
    criteria: Criteria
    fields: tuple[str, ...]

    def argv(self) -> tuple[Arg, ...]:
        return (
            self.queue,
            self.state_set,
            self.cursor_score,
            self.cursor_member,
            self.limit,
            self.budget,
            *_criteria_argv(self.criteria),
            *_fields_argv(self.fields),
        )
