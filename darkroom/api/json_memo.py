"""Proto3 JSON of messages, memoized by what determines it: the message's bytes and the mask.

:func:`protojson.to_json` is a pure function of the message's content and the mask, and a
message's content is exactly its serialized bytes (``deterministic=True`` orders map entries).
So a cache keyed by ``(mask, bytes)`` can never answer stale JSON: any change to the message (an
edited caption, a new count, another viewer's ``liked_by_me``, a signed URL with a new expiry)
is another key. Serializing is C code (upb), several times cheaper than walking the message in
Python, which is what a repeated post on busy feeds saves.

Answers are :class:`orjson.Fragment`\\ s: JSON bytes that ``orjson.dumps`` embeds as they are, so
a page of cached posts is assembled without building or encoding its dicts again.
"""

from __future__ import annotations

import threading

import orjson
from google.protobuf.message import Message

from darkroom.api import protojson
from darkroom.api.fieldmask import Mask

__all__ = ["DEFAULT_MAX_ENTRIES", "JsonMemo"]

# an estimate, not measured: a post with a photo is ~1-2 KB of JSON plus its proto bytes as the key,
# so tens of MB per process at the limit
DEFAULT_MAX_ENTRIES = 20_000


class JsonMemo:
    """``protojson.to_json(message, mask)`` as a :class:`orjson.Fragment`, remembered for up to
    ``max_entries`` (message bytes, mask) pairs in all, the oldest of the mask being filled
    forgotten first. Thread-safe."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries}")
        self.max_entries = max_entries
        # per mask, by the message's bytes: bytes keys are not tracked by the cyclic GC, as
        # tuples would be, and a lookup builds no key
        self._by_mask: dict[Mask, dict[bytes, orjson.Fragment]] = {}
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return self._size

    def fragment(self, message: Message, mask: Mask) -> orjson.Fragment:
        """The JSON of ``message`` with only ``mask``'s fields (``mask`` for its type)."""
        content = message.SerializeToString(deterministic=True)
        entries = self._by_mask.get(mask)
        found = None if entries is None else entries.get(content)
        if found is not None:
            self.hits += 1  # a lost increment between threads only skews the statistics
            return found
        self.misses += 1
        made = orjson.Fragment(protojson.to_json(message, mask))
        with self._lock:
            entries = self._by_mask.setdefault(mask, {})
            if content not in entries:
                if self._size >= self.max_entries:
                    self._evict(entries)
                self._size += 1
            entries[content] = made
        return made

    def _evict(self, preferred: dict[bytes, orjson.Fragment]) -> None:
        """Forget one entry: the oldest of ``preferred`` (the mask being filled), else the oldest
        of another mask, whose table goes once empty (masks come from clients: no empty tables
        kept)."""
        if preferred:
            del preferred[next(iter(preferred))]
        else:
            mask, entries = next((m, e) for m, e in self._by_mask.items() if e)
            del entries[next(iter(entries))]
            if not entries:
                del self._by_mask[mask]
        self._size -= 1
