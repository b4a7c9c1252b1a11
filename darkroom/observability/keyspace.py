"""Darkroom's own view of its Redis keys: queue depth per state, event streams and their consumer
groups, and counts of key families only a SCAN can reach (home feeds, rate-limit quotas).

The :class:`KeyLayout` says where those keys are; it is data, built by the composition root
(``darkroom.platform.health``) from the key schemas of the packages above this one. Queue depth
comes from the queue's key schema (``darkroom.queue.keys``): the registry set and one ``ZCARD``
per state, never ``KEYS``. Families are counted with ``SCAN MATCH`` on a literal prefix, at most
``max_steps`` calls per family and per census, so a huge keyspace yields a lower bound
(``complete=False``) rather than a long scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from darkroom.observability.errors import InvalidKeyPattern
from darkroom.queue.models import State

__all__ = ["QUEUE_STATES", "KeyCount", "KeyFamily", "KeyLayout", "Keyspace", "QueueDepth", "StreamGroup", "StreamState"]

QUEUE_STATES: tuple[str, ...] = tuple(State)
_LITERAL_HEAD = re.compile(r"[^*?\[\\]+")  # the part of a glob before its first special character
_MIN_PREFIX = 3


@dataclass(frozen=True, slots=True)
class KeyFamily:
    """Keys counted by ``SCAN MATCH pattern``; the pattern must start with a literal prefix."""

    name: str  # the metric label: "feeds", "rate_limits"
    pattern: str  # "social:{a:*}:feed"

    def __post_init__(self) -> None:
        head = _LITERAL_HEAD.match(self.pattern)
        if head is None or len(head.group()) < _MIN_PREFIX:
            raise InvalidKeyPattern(
                f"key family {self.name!r}: pattern {self.pattern!r} must start with a literal prefix of at least "
                f"{_MIN_PREFIX} characters (a SCAN stays on Darkroom's own keys)"
            )


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Where Darkroom keeps its keys in one Redis."""

    namespace: str = "dr"  # the queue's (``darkroom.queue.keys.Keys``)
    streams: tuple[str, ...] = ()  # event streams: length, and each consumer group's lag and pending
    families: tuple[KeyFamily, ...] = ()
    # CLIENT SETNAME prefix of Darkroom's own connections: its blocked long polls are expected
    client_prefix: str = "darkroom:"


@dataclass(frozen=True, slots=True)
class QueueDepth:
    queue: str
    state: str
    messages: int


@dataclass(frozen=True, slots=True)
class StreamGroup:
    """One consumer group (``XINFO GROUPS``): ``lag`` is None when Redis cannot tell (after a trim)."""

    name: str
    consumers: int
    pending: int
    lag: int | None


@dataclass(frozen=True, slots=True)
class StreamState:
    stream: str
    length: int  # 0 when the stream does not exist yet
    groups: tuple[StreamGroup, ...]


@dataclass(frozen=True, slots=True)
class KeyCount:
    family: str
    keys: int
    complete: bool  # False: the census stopped at its budget, ``keys`` is a lower bound
    counted_at_s: float  # monotonic time of the census (families are counted less often)


@dataclass(frozen=True, slots=True)
class Keyspace:
    queues: tuple[str, ...]
    depths: tuple[QueueDepth, ...]
    streams: tuple[StreamState, ...]
    counts: tuple[KeyCount, ...]

    def depth(self, queue: str, state: str) -> int:
        return next((d.messages for d in self.depths if d.queue == queue and d.state == state), 0)
