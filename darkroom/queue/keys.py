"""The Redis key schema of the queue, written down once.

Every key of one queue shares the hash tag ``{<queue>}`` so a Redis Cluster keeps a queue in
one slot and its Lua scripts stay atomic. ``P = "<ns>:{<queue>}:"``:

==========================  ======  ==========================================================
key                         type    contents
==========================  ======  ==========================================================
``<ns>:queues``             set     names of all queues (the only key outside a queue's slot)
``P conf``                  hash    settings (``CONF_FIELDS``): kind, xkey, xlimit, lease_ms,
                                    max_att, retention_ms, max_payload, ikeys_s, paused, ca,
                                    events_max
``P seq``                   string  enqueue counter; ``seq16`` (%016x) breaks deadline ties
``P fence``                 string  fencing-token counter, one token per lease granted
``P m:<id>``                hash    one message (``MESSAGE_FIELDS``)
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
``P keys``                  set     suffixes of the keys no fixed name or set reaches: every
                                    ``ix:``/``xq:``/``xr:``/``xc:`` key written, and the hashes
                                    of dropped messages (what ``delete_queue`` deletes besides)
channel ``P wake``          pubsub  "work may have appeared", published only while someone waits
==========================  ======  ==========================================================

Message hash fields: seq payload meta(json) dl st att max ca ua va le tok err res x ix dg ft
(``meta`` and ``ix`` are left out when empty).
The scripts under ``lua/`` repeat the schema in their headers and are its only writers;
``QUEUE_KEYS`` below is the same table as data, which the tests hold the scripts and the keyspace
to (``tests/queue/test_key_schema.py``). ``<combo>`` is 16 hex digits (empty in ``xq:``/``xr:``
for "no criteria"), ``<value>`` any metadata value: both come after the hash tag, so neither can
move it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The namespace rule (no braces, no glob characters, no spaces) is config's: Settings checks it early.
from darkroom.config import MAX_NAMESPACE_CHARS
from darkroom.config import NAMESPACE_PATTERN as _NAMESPACE
from darkroom.queue.errors import InvalidNamespace

__all__ = ["CONF_FIELDS", "HASH_FIELD", "MAX_NAMESPACE_CHARS", "MESSAGE_FIELDS", "QUEUE_KEYS", "KeyKind", "Keys"]

# The settings in a queue's ``conf`` hash (create_queue writes them all, update_queue some).
CONF_FIELDS = (
    "kind",
    "xkey",
    "xlimit",
    "lease_ms",
    "max_att",
    "retention_ms",
    "max_payload",
    "ikeys_s",
    "paused",
    "ca",
    "events_max",
)
# The fields of a message hash ``m:<id>``.
MESSAGE_FIELDS = (
    "seq", "payload", "meta", "dl", "st", "att", "max", "ca", "ua", "va", "le", "tok", "err", "res", "x", "ix",
    "dg", "ft",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class KeyKind:
    """One row of the schema: a key of a queue, by its suffix after ``P``."""

    suffix: str  # as the tables write it: "m:<id>", "xq:<combo>:<value>"
    type: str  # the Redis type
    pattern: re.Pattern[str]  # what the suffix of such a key matches

    @property
    def head(self) -> str:
        """The literal start of the suffix ("m:", "pending"): what the scripts write after ``P``."""
        return self.suffix.split("<", 1)[0]


def _kind(suffix: str, type_: str) -> KeyKind:
    parts = {"<id>": r"[A-Za-z0-9][A-Za-z0-9_.:-]*", "<combo>": "[0-9a-f]{16}", "<combo?>": "(?:[0-9a-f]{16})?"}
    rx = re.escape(suffix)
    for name, part in parts.items():
        rx = rx.replace(re.escape(name), part)
    rx = rx.replace(re.escape("<value>"), ".+")
    return KeyKind(suffix.replace("<combo?>", "<combo>"), type_, re.compile(rx, re.DOTALL))


QUEUE_KEYS: tuple[KeyKind, ...] = (
    _kind("conf", "hash"),
    _kind("seq", "string"),
    _kind("fence", "string"),
    _kind("m:<id>", "hash"),
    _kind("pending", "zset"),
    _kind("delayed", "zset"),
    _kind("running", "zset"),
    _kind("completed", "zset"),
    _kind("canceled", "zset"),
    _kind("errored", "zset"),
    _kind("ix:<combo>", "zset"),
    _kind("xq:<combo?>:<value>", "zset"),
    _kind("xr:<combo?>", "zset"),
    _kind("xc:<value>", "set"),
    _kind("xrun", "hash"),
    _kind("events", "stream"),
    _kind("counters", "hash"),
    _kind("waiters", "zset"),
    _kind("keys", "set"),
)

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

    def registry_of(self, queue: str) -> str:
        """The set naming the queue's index keys and dropped messages' hashes (``P keys``)."""
        return self.prefix(queue) + "keys"

    def parse(self, key: str) -> tuple[str, KeyKind] | None:
        """The queue and schema row of a queue's key in this namespace, or None for another key."""
        head = f"{self.namespace}:{{"
        if not key.startswith(head) or "}:" not in key:
            return None
        queue, suffix = key[len(head) :].split("}:", 1)
        for kind in QUEUE_KEYS:
            if kind.pattern.fullmatch(suffix):
                return queue, kind
        return None
