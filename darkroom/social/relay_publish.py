"""The relay's publish step: a batch of outbox rows to the events stream in one script call.

Per row the script ``SET NX``-es the publish-once marker ``keys.event_seen(event_id)`` (24 h) and
``XADD``-s only when the marker was new, so a batch published again (a relay that died before
marking its rows) adds nothing twice. A row that is not an event (garbled payload) goes to the
dead-letter stream ``keys.EVENTS_DEAD`` instead, under the same marker. The script checks the
lease's fencing token (:mod:`darkroom.social.relay_lease`) and the whole batch before its first
write: all or nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import redis

from darkroom.social import keys
from darkroom.social.errors import InvalidInput, LeaseLost
from darkroom.social.events import Event
from darkroom.social.outbox import OutboxRow

__all__ = ["DEAD_LETTER_MAXLEN", "MARKER_TTL_S", "MAX_BATCH", "Published", "Publisher"]

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # rows per script call; the script refuses more (it also bounds KEYS and ARGV)
MARKER_TTL_S = 86_400  # a row published and not marked is deduplicated for this long
DEAD_LETTER_MAXLEN = 100_000  # the dead-letter stream keeps about this many entries (XADD MAXLEN ~)

# KEYS: 1 the events stream, 2 the dead-letter stream, 3 the lease, 3+i entry i's marker.
# ARGV: 1 fencing token, 2 marker TTL s, 3 n, then per entry: target ('e' events | 'd' dead
# letters), k, then k field/value pairs. Returns one 1 (added) or 0 (marker set: seen) per entry.
# Every check runs before the first write; the writes that follow cannot fail on their own (the
# key types are checked, and an out-of-memory refusal hits the first write), so a call is all or
# nothing.
_PUBLISH = """
local n = tonumber(ARGV[3])
if not n or n < 0 or n > MAX_BATCH or n ~= math.floor(n) or #KEYS ~= 3 + n then
  return redis.error_reply('BAD_BATCH ' .. tostring(ARGV[3]) .. ' entries, ' .. #KEYS .. ' keys')
end
local spans = {}
local pos = 4
for i = 1, n do
  local target, k = ARGV[pos], tonumber(ARGV[pos + 1])
  if (target ~= 'e' and target ~= 'd') or not k or k < 1 or k ~= math.floor(k) or pos + 1 + 2 * k > #ARGV then
    return redis.error_reply('BAD_BATCH entry ' .. i .. ' is malformed')
  end
  spans[i] = {target == 'e' and KEYS[1] or KEYS[2], pos + 2, pos + 1 + 2 * k}
  pos = pos + 2 + 2 * k
end
if pos ~= #ARGV + 1 then
  return redis.error_reply('BAD_BATCH ' .. (#ARGV - pos + 1) .. ' arguments left over')
end
for _, key in ipairs({KEYS[1], KEYS[2]}) do
  local t = redis.call('TYPE', key).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('BAD_KEY ' .. key .. ' is a ' .. t .. ', not a stream')
  end
end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return redis.error_reply('LEASE_LOST token ' .. ARGV[1])
end
local added = {}
for i = 1, n do
  local s = spans[i]
  if redis.call('SET', KEYS[3 + i], '1', 'NX', 'EX', ARGV[2]) then
    if s[1] == KEYS[1] then
      redis.call('XADD', s[1], '*', unpack(ARGV, s[2], s[3]))
    else
      redis.call('XADD', s[1], 'MAXLEN', '~', DEAD_LETTER_MAXLEN, '*', unpack(ARGV, s[2], s[3]))
    end
    added[i] = 1
  else
    added[i] = 0
  end
end
return added
""".replace("DEAD_LETTER_MAXLEN", str(DEAD_LETTER_MAXLEN)).replace("MAX_BATCH", str(MAX_BATCH))


@dataclass(frozen=True, slots=True)
class Published:
    """What one publish did with its rows."""

    added: int = 0  # new stream entries
    seen: int = 0  # markers already set: published before, by a round that died before marking
    dead_lettered: int = 0  # garbled rows, now in the dead-letter stream


@dataclass(frozen=True, slots=True)
class _Entry:
    row: OutboxRow
    target: str  # 'e' the events stream, 'd' the dead-letter stream
    fields: dict[str, str]


class Publisher:
    """The publish script, registered on one Redis client."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self._publish = redis_client.register_script(_PUBLISH)

    def publish(self, token: str, rows: Sequence[OutboxRow]) -> Published:
        """Publish ``rows`` (at most :data:`MAX_BATCH`) under the lease ``token``;
        :class:`LeaseLost` when the lease is not that token's any more: nothing was written."""
        if not rows:
            return Published()
        if len(rows) > MAX_BATCH:
            raise InvalidInput(f"{len(rows)} outbox rows is more than one batch ({MAX_BATCH})", field="rows")
        entries = [_entry(row) for row in rows]
        args: list[str | int] = [token, MARKER_TTL_S, len(entries)]
        for e in entries:
            args += [e.target, len(e.fields)]
            for name, value in e.fields.items():
                args += [name, value]
        markers = [keys.event_seen(e.row.event_id) for e in entries]
        try:
            added = self._publish(keys=[keys.EVENTS, keys.EVENTS_DEAD, keys.RELAY_LEASE, *markers], args=args)
        except redis.ResponseError as exc:
            if str(exc).startswith("LEASE_LOST"):
                raise LeaseLost(f"the relay lease is held by another relay ({exc})") from None
            raise
        for e, a in zip(entries, added, strict=True):
            if a and e.target == "d":
                log.error("outbox row %d (event %s) is not an event: dead-lettered", e.row.seq, e.row.event_id)
        return Published(
            added=sum(1 for e, a in zip(entries, added, strict=True) if a and e.target == "e"),
            seen=sum(1 for a in added if not a),
            dead_lettered=sum(1 for e, a in zip(entries, added, strict=True) if a and e.target == "d"),
        )


def _entry(row: OutboxRow) -> _Entry:
    """The stream entry of ``row``: its event's fields, or a dead letter saying why it has none."""
    try:
        fields = orjson.loads(row.payload)
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise ValueError("the payload is not an object of strings")
        event = Event.from_fields(fields)
        if not isinstance(event.data, dict):
            raise ValueError("its data is not an object")
        if event.event_id != row.event_id:
            raise ValueError(f"its event_id {event.event_id!r} is not the row's {row.event_id!r}")
        return _Entry(row, "e", event.to_fields())
    except (ValueError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        error = f"{type(exc).__name__}: {exc}"
    return _Entry(
        row,
        "d",
        {
            "source": "relay",
            "error": error[:1000],
            "event_id": row.event_id,
            "seq": str(row.seq),
            "payload": row.payload[:65_536],
        },
    )
