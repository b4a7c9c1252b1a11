"""Function queues and shapes: which tasks a worker may take.

A function's *shape* (``{"codec": "av1"}``) is what a worker must offer to run it. Tasks carry the
shape keys of their queue as metadata, ``*`` where the function needs nothing; a worker dequeues
with every ``where`` it satisfies: for each key, its own value or ``*``. With the queue's indexed
keys (at most four) that is at most 16 filters, each served in EDF order by the queue's indexes.

A queue whose functions say ``exclusive_on`` is created exclusive on that argument's name, and each
task carries the argument's value (:func:`exclusive_metadata`): the queue then runs at most one
task per value at a time (an analytics job's runs never overlap).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping
from typing import Any

import darkroom.queue as dq
from darkroom.runtime.errors import InvalidWorkflow
from darkroom.runtime.functions import Function, Registry

__all__ = [
    "ANY", "ensure_queues", "exclusive_metadata", "exclusivity_key", "shape_keys", "task_metadata", "worker_filters",
]  # fmt: skip

ANY = "*"
MAX_SHAPE_KEYS = 4


def shape_keys(registry: Registry, queue: str) -> tuple[str, ...]:
    keys = sorted({k for f in registry if f.queue == queue for k in f.shape})
    if len(keys) > MAX_SHAPE_KEYS:
        raise InvalidWorkflow(f"queue {queue!r}: functions use {len(keys)} shape keys {keys}; at most {MAX_SHAPE_KEYS}")
    return tuple(keys)


def exclusivity_key(registry: Registry, queue: str) -> str | None:
    """The argument name ``queue``'s functions are exclusive on (None: a simple queue); every
    function of an exclusive queue must name the same one, since every message needs a value."""
    keys = {f.exclusive_on for f in registry if f.queue == queue}
    if len(keys) > 1:
        shown = sorted(repr(k) for k in keys)
        raise InvalidWorkflow(f"queue {queue!r}: its functions disagree on exclusive_on ({', '.join(shown)})")
    return next(iter(keys), None)


def ensure_queues(client: dq.RedisQueue, registry: Registry) -> dict[str, tuple[str, ...]]:
    """Create the registry's function queues that do not exist; answer each queue's shape keys."""
    out: dict[str, tuple[str, ...]] = {}
    for queue in registry.queues():
        keys = shape_keys(registry, queue)
        exclusive = exclusivity_key(registry, queue)
        try:
            info = client.get_queue(queue)
        except dq.QueueNotFound:
            lease_s = max(f.lease_s for f in registry if f.queue == queue)
            with contextlib.suppress(dq.Conflict):  # created meanwhile by another process
                client.create_queue(
                    queue, lease_s=lease_s, max_attempts=10, indexed_keys=list(keys), exclusivity_key=exclusive
                )
            info = client.get_queue(queue)
        if info.exclusivity_key != exclusive:
            raise InvalidWorkflow(
                f"queue {queue!r} exists with exclusivity key {info.exclusivity_key!r}, its functions want "
                f"{exclusive!r}; recreate it"
            )
        missing = set(keys) - set(info.indexed_keys)
        if missing:
            raise InvalidWorkflow(
                f"queue {queue!r} exists without the shape keys {sorted(missing)}; recreate it with indexed_keys"
            )
        out[queue] = tuple(info.indexed_keys)
    return out


def task_metadata(fn: Function, keys: tuple[str, ...]) -> dict[str, str]:
    return {k: fn.shape.get(k, ANY) for k in keys}


def exclusive_metadata(fn: Function, args: Mapping[str, Any]) -> dict[str, str]:
    """A task's exclusivity value: ``{fn.exclusive_on: args[fn.exclusive_on]}`` (``{}``: none)."""
    if fn.exclusive_on is None:
        return {}
    value = args.get(fn.exclusive_on)
    if not isinstance(value, str) or not value:
        raise InvalidWorkflow(
            f"function {fn.name!r} is exclusive on argument {fn.exclusive_on!r}, which is {value!r}, "
            "not a non-empty string"
        )
    return {fn.exclusive_on: value}


def worker_filters(shape: Mapping[str, str], keys: tuple[str, ...]) -> list[dict[str, str] | None]:
    """Every ``where`` a worker with ``shape`` may dequeue with (``[None]``: the queue has no keys)."""
    if not keys:
        return [None]
    choices = [[shape[k], ANY] if k in shape and shape[k] != ANY else [ANY] for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*choices)]
