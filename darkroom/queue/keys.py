"""The Redis key schema of the queue, written down once.

Every key of one queue shares the hash tag ``{<queue>}`` so a Redis Cluster keeps a queue in
one slot and its Lua scripts stay atomic. ``P = "<ns>:{<queue>}:"``:

==========================  ======  ==========================================================
key                         type    contents
==========================  ======  ==========================================================
``<ns>:queues``             set     names of all queues (the only key outside a queue's slot)
``P conf``                  hash    settings: kind, xkey, xlimit, lease_ms, max_att,
                                    retention_ms, max_payload, ikeys_s, paused, ca, events_max
``P seq``                   string  enqueue counter; ``seq16`` (%016x) breaks deadline ties
``P fence``                 string  fencing-token counter, one token per lease granted
``P m:<id>``                hash    one message (fields below)
``P pending``               zset    pending messages, score deadline ms, member seq16+id
``P delayed``               zset    invisible messages, score visible-at ms
``P running``               zset    leased messages, score lease expiry ms
``P completed|canceled|errored`` zset finished messages, score finish ms
``P ix:<combo>``            zset    simple queues: pending messages matching a criteria combo
``P xq:<combo>:<value>``    zset    exclusive queues: pending messages of one value
``P xr:<combo>``            zset    exclusive queues: values that may run, scored by head
``P xc:<value>``            set     combos in which a value has pending messages
``P xrun``                  hash    running messages per exclusivity value
``P events``                stream  one entry per state change, capped (``events_max``)
``P counters``              hash    event kind -> count (enqueued, dequeued, completed, …)
``P waiters``               zset    clients waiting in a long poll; score = end of the wait
channel ``P wake``          pubsub  "work may have appeared", published only while someone waits
==========================  ======  ==========================================================

Message hash fields: seq payload meta(json) dl st att max ca ua va le tok err res x ix dg ft
(``meta`` and ``ix`` are left out when empty).
The scripts under ``lua/`` repeat the schema in their headers and are its only writers.
"""

from __future__ import annotations

from dataclasses import dataclass

# The namespace rule (no braces, no glob characters, no spaces) is config's: Settings checks it early.
from darkroom.config import MAX_NAMESPACE_CHARS
from darkroom.config import NAMESPACE_PATTERN as _NAMESPACE
from darkroom.queue.errors import InvalidNamespace

__all__ = ["HASH_FIELD", "MAX_NAMESPACE_CHARS", "Keys"]

# Message attribute -> field of the message hash; what a read mask turns into HMGET arguments.
HASH_FIELD: dict[str, str] = {
    "payload": "payload",
    "metadata": "meta",
    "deadline": "dl",
    "state": "st",
    "attempts": "att",
    "max_attempts": "max",
    "created_at": "ca",
    "updated_at": "ua",
    "visible_at": "va",
    "lease_expires_at": "le",
    "last_error": "err",
    "result": "res",
}


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one namespace (default ``dr``)."""

    namespace: str = "dr"

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or not _NAMESPACE.fullmatch(self.namespace):
            raise InvalidNamespace(
                f"namespace {self.namespace!r} must be 1 to {MAX_NAMESPACE_CHARS} characters of "
                "[A-Za-z0-9_.:-] (no braces: they would move the hash tag)",
                field="namespace",
            )

    @property
    def registry(self) -> str:
        return f"{self.namespace}:queues"

    def prefix(self, queue: str) -> str:
        return f"{self.namespace}:{{{queue}}}:"

    def conf(self, queue: str) -> str:
        return self.prefix(queue) + "conf"

    def message(self, queue: str, mid: str) -> str:
        return self.prefix(queue) + "m:" + mid

    def state_set(self, queue: str, state: str) -> str:
        # invisible messages live in the "delayed" set; the others in a set named by the state
        return self.prefix(queue) + ("delayed" if state == "invisible" else state)

    def running_per_value(self, queue: str) -> str:
        return self.prefix(queue) + "xrun"

    def counters(self, queue: str) -> str:
        return self.prefix(queue) + "counters"

    def events(self, queue: str) -> str:
        return self.prefix(queue) + "events"

    def wake_channel(self, queue: str) -> str:
        return self.prefix(queue) + "wake"

    def queue_of_channel(self, channel: str) -> str:
        return channel[len(self.namespace) + 2 : -len("}:wake")]

    def pattern(self, queue: str) -> str:
        """A SCAN pattern for every key of the queue (queue names never contain glob chars)."""
        return self.prefix(queue) + "*"
