"""Settling: what ingest has finished with, kept in the consumer group ``analytics``.

Ingest reads the stream with plain ``XREAD`` (:mod:`darkroom.analytics.batch`); the group is
never read through. Its last-delivered-id is the **settled position** S: every entry up to S is
committed to the table (or needs no row: dead, a duplicate) and has its dead letter written. One
script (:data:`_SETTLE`) writes a batch's dead letters and moves S to the batch's last entry, so
the two happen together; S never moves back. The relay's trim (``darkroom.social.relay``) keeps
every entry after a group's last-delivered-id (and its pending ones), so nothing unsettled is
trimmed.

A group left by the ingest that read through it (``XREADGROUP``) may hold pending entries and a
last-delivered-id past what was committed: :func:`group_state` reports the oldest pending entry so
the reader starts before it, and :data:`_SETTLE` writes the dead letters of pending entries too and
acknowledges those it settles, until the pending list is empty.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from darkroom.analytics.batch import DeadEntry
from darkroom.analytics.position import StreamId
from darkroom.social import keys

__all__ = [
    "DEAD_LETTER_MAXLEN",
    "GROUP",
    "SETTLE_CHUNK_BYTES",
    "SETTLE_CHUNK_ENTRIES",
    "GroupState",
    "ensure_group",
    "group_state",
    "settle",
]

GROUP = "analytics"
DEAD_LETTER_MAXLEN = 100_000  # as the relay's and the consumers' dead letters (XADD MAXLEN ~)
log = logging.getLogger(__name__)

SETTLE_CHUNK_ENTRIES = 1_000  # dead letters per settle script at most (a script blocks Redis)
SETTLE_CHUNK_BYTES = 4_000_000  # and about this many bytes of them
_EXACT_LAG_ENTRIES = 1_000  # ENTRIESREAD is worked out when at most this many entries follow S (caught up)

# KEYS: 1 the stream, 2 its dead-letter stream. ARGV: 1 group, 2 the batch's last entry id,
# 3 dead-letter MAXLEN, 4 lag window, then per dead entry 4 values: entry id, error, event_id,
# payload. Writes the dead letter of each entry not settled yet (after the group's last-delivered-id,
# or pending there), moves last-delivered-id forward to ARGV[2] (never back; with ENTRIESREAD when
# few entries follow, so XINFO's lag stays known), acknowledges pending entries up to ARGV[2].
# Creates the group at ARGV[2] when it is gone. Returns the dead letters written.
_SETTLE = (
    keys.STREAM_ID_LUA
    + """
local settled, pending = nil, 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == ARGV[1] then settled, pending = info['last-delivered-id'], info['pending'] end
  end
end
if settled == nil then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM')
  settled = '0-0'
end
local written = 0
for i = 5, #ARGV, 4 do
  local id = ARGV[i]
  local open = less(settled, id)
  if not open and pending > 0 then open = #redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1) > 0 end
  if open then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'source', 'analytics', 'group', ARGV[1],
      'entry_id', id, 'error', ARGV[i + 1], 'event_id', ARGV[i + 2], 'payload', ARGV[i + 3])
    written = written + 1
  end
end
if less(settled, ARGV[2]) then
  local after = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', ARGV[4])
  if #after < tonumber(ARGV[4]) then
    local added = 0
    local info = redis.call('XINFO', 'STREAM', KEYS[1])
    for i = 1, #info, 2 do if info[i] == 'entries-added' then added = info[i + 1] end end
    redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], ARGV[2], 'ENTRIESREAD', added - #after)
  else
    redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], ARGV[2])
  end
end
while pending > 0 do
  local old = redis.call('XPENDING', KEYS[1], ARGV[1], '-', ARGV[2], 1000)
  if #old == 0 then break end
  local ids = {}
  for j, e in ipairs(old) do ids[j] = e[1] end
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  if #old < 1000 then break end
end
return written
"""
)


@dataclass(frozen=True, slots=True)
class GroupState:
    """The group's settled position, and its oldest pending entry (left by an older ingest)."""

    settled: StreamId
    oldest_pending: StreamId | None = None

    def start(self, position: StreamId | None) -> str:
        """Where a reader starts, the table at ``position``: the earliest of the table's position,
        the settled position, and just before the oldest pending entry."""
        start = min(position or StreamId(0, 0), self.settled)
        if self.oldest_pending is not None:
            start = min(start, _before(self.oldest_pending))
        return str(start)


def ensure_group(redis_client: redis.Redis, stream: str, group: str, at: StreamId | None) -> None:
    """Create ``group`` at ``at`` (the stream's start when None) unless it exists."""
    try:
        redis_client.xgroup_create(stream, group, id=str(at or StreamId(0, 0)), mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def group_state(redis_client: redis.Redis, stream: str, group: str) -> GroupState | None:
    """The group's :class:`GroupState`; None when there is no such group."""
    try:
        groups: list[dict[str, Any]] = redis_client.xinfo_groups(stream)
    except redis.ResponseError:  # no stream
        return None
    for g in groups:
        if _text(g["name"]) != group:
            continue
        oldest = None
        if int(g["pending"]):
            summary = redis_client.xpending(stream, group)
            oldest = StreamId.parse(_text(summary["min"]))
        return GroupState(StreamId.parse(_text(g["last-delivered-id"])), oldest)
    return None


def settle(
    redis_client: redis.Redis,
    *,
    stream: str,
    dead_stream: str,
    group: str,
    last: str,
    dead: Sequence[DeadEntry],
) -> int:
    """Write the dead letters of ``dead`` (in stream order, none after ``last``) not written before
    and move the settled position to ``last``; answers the dead letters written.

    One script per at most :data:`SETTLE_CHUNK_ENTRIES` dead letters (and about
    :data:`SETTLE_CHUNK_BYTES` of them): a script blocks Redis, and a batch of a million dead
    entries in one would block it for seconds. Each script but the last moves the settled
    position to its own last dead entry, which is settled already (the batch is committed): a
    crash in between leaves every dead letter up to the settled position written, none after."""
    script = redis_client.register_script(_SETTLE)
    written = 0
    chunk: list[str | int] = []
    size = 0
    for i, d in enumerate(dead):
        payload = orjson.dumps(d.fields).decode()[:65_536]
        values = [d.entry_id, d.error[:1000], d.fields.get("event_id", "")[:64], payload]
        chunk += values
        size += sum(map(len, values))
        log.error("stream entry %s dead-lettered: %s", d.entry_id, d.error)
        if i < len(dead) - 1 and (len(chunk) >= 4 * SETTLE_CHUNK_ENTRIES or size >= SETTLE_CHUNK_BYTES):
            written += _run(script, [stream, dead_stream], (group, d.entry_id), chunk)
            chunk, size = [], 0
    return written + _run(script, [stream, dead_stream], (group, last), chunk)


def _run(script: Any, stream_keys: list[str], head: tuple[str, str], dead_args: list[str | int]) -> int:
    """One settle script: ``head`` is (group, the id the settled position moves to)."""
    args: list[str | int] = [head[0], head[1], DEAD_LETTER_MAXLEN, _EXACT_LAG_ENTRIES, *dead_args]
    return int(script(keys=stream_keys, args=args))


def _before(entry: StreamId) -> StreamId:
    """The greatest possible id below ``entry`` (XREAD starts after an id)."""
    if entry.seq:
        return StreamId(entry.ms, entry.seq - 1)
    return StreamId(entry.ms - 1, 2**64 - 1) if entry.ms else StreamId(0, 0)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
