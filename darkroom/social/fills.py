"""Cache fills that a concurrent invalidation wins: the compare-and-set both Redis caches of the
read path use (the post cache, the credential cache).

A reader misses, reads SQL, and is slow to write the entry back; meanwhile a writer commits and
invalidates. A plain ``DEL`` would run before the slow write-back, which would then keep the old
value until its TTL. So an invalidation writes a *tombstone* (:func:`tombstone`: ``b"T"`` + a fresh
token, kept far longer than any read), and a reader writes back only if the key still holds exactly
what its read saw (nothing, or the same tombstone), checked and set atomically in Lua.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import redis as redis_lib

from darkroom.social.ids import new_id

__all__ = ["TOMBSTONE", "Fill", "fill", "tombstone"]

TOMBSTONE = b"T"

# KEYS[1] an entry; ARGV: what the reader saw ('' for nothing), the new entry, its TTL (ms).
_FILL = """
local current = redis.call('GET', KEYS[1])
if (current == false and ARGV[1] == '') or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_FILL_SHA = hashlib.sha1(_FILL.encode(), usedforsecurity=False).hexdigest()  # EVALSHA first


@dataclass(frozen=True, slots=True)
class Fill:
    """One write-back: ``value`` into ``key`` for ``ttl_ms`` if the key still holds ``saw``."""

    key: str
    saw: bytes
    value: bytes
    ttl_ms: int


def tombstone() -> bytes:
    """A fresh tombstone: a value no reader's earlier read can have seen."""
    return TOMBSTONE + new_id().encode()


def fill(redis: redis_lib.Redis, entries: Sequence[Fill]) -> None:
    """Write ``entries`` back, each only if its key still holds what the read saw: one round trip."""
    if not entries:
        return
    for attempt in (1, 2):
        pipe = redis.pipeline(transaction=False)
        for e in entries:
            pipe.evalsha(_FILL_SHA, 1, e.key, e.saw, e.value, e.ttl_ms)
        try:
            pipe.execute()
            return
        except redis_lib.exceptions.NoScriptError:
            if attempt == 2:
                raise
            redis.script_load(_FILL)  # first use, or a restarted server; a fill is safe to repeat
