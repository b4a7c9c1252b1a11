"""The outbox relay: publishes committed outbox rows to the events stream, once each, in order.

Each round (:meth:`Relay.publish_once`) runs four steps, public so a test can stop between them:

1. :meth:`~Relay.acquire` the relay lease (``keys.RELAY_LEASE``): one relay publishes at a time,
   so rows reach the stream in the order the relay reads them. The lease holds a *fencing token*
   (a counter bumped per lease); the publish script checks it in the same call as the ``XADD``, so
   a relay that stalled past its lease cannot publish after another relay has taken over.
2. :meth:`~Relay.read` unpublished rows in ``seq`` order (no SQL lock: the lease serializes).
3. :meth:`~Relay.publish` them in one script call: per row, ``SET NX`` the publish-once marker
   ``keys.event_seen(event_id)`` (24 h) and ``XADD`` only when it was new. A row that is not an
   event (garbled payload) goes to the dead-letter stream ``keys.EVENTS_DEAD`` instead, under the
   same marker. The script checks the whole batch before its first write: all or nothing.
4. :meth:`~Relay.mark` the rows published in one ``UPDATE``.

A crash between 3 and 4 leaves the rows unpublished in SQL; the next round publishes them again,
and their markers turn that into a no-op. Housekeeping, by the lease holder: :meth:`~Relay.trim`
the stream by age (``MINID ~``), never past an entry a consumer group has not read or not
acknowledged, and :meth:`~Relay.purge` published rows after the retention period.
docs/social.md "The events pipeline" explains the choices.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
import redis
import sqlalchemy as sa
from sqlalchemy import Engine

from darkroom.social import keys
from darkroom.social.errors import InvalidInput, LeaseLost
from darkroom.social.events import Event
from darkroom.social.metrics import RelayMetrics
from darkroom.storage.db import read_only
from darkroom.storage.schema import outbox

__all__ = ["DEAD_LETTER_MAXLEN", "MARKER_TTL_S", "MAX_BATCH", "OutboxRow", "Published", "Relay", "RelayConfig"]

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

# KEYS: 1 lease, 2 fencing counter. ARGV: 1 the caller's token ('' for none), 2 lease ms.
# Renews the caller's lease, or takes a free one with a new token; false when another holds it.
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held and held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return held
end
if held then return false end
local token = tostring(redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# KEYS: 1 the stream. ARGV: 1 max age ms. Trims entries older than the age (MINID ~: whole macro
# nodes only, so never more than asked), but never one a group has not read (after its
# last-delivered-id) or not acknowledged (its oldest pending). Returns the entries removed.
_TRIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local floor = string.format('%.0f-0', math.max(0, now_ms - tonumber(ARGV[1])))
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local keep = info['last-delivered-id']
  if info['pending'] > 0 then keep = redis.call('XPENDING', KEYS[1], info['name'])[2] end
  if less(keep, floor) then floor = keep end
end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', floor)
"""


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """How a relay paces itself and how long it keeps what it published."""

    lease_s: float = 10.0  # a dead relay's lease frees after this; each round renews it
    idle_min_s: float = 0.05  # first wait after a round that found nothing
    idle_max_s: float = 1.0  # the wait doubles up to this while idle (and while another relay leads)
    stream_max_age_s: float = 86_400.0  # stream entries older than this are trimmed (see _TRIM)
    trim_every_s: float = 10.0
    outbox_retention_s: float = 7 * 86_400.0  # published rows are deleted after this
    purge_every_s: float = 60.0
    purge_batch: int = 5_000  # rows deleted per DELETE

    def __post_init__(self) -> None:
        for name in ("lease_s", "idle_min_s", "idle_max_s", "trim_every_s", "purge_every_s"):
            if not getattr(self, name) > 0:
                raise InvalidInput(f"relay {name} {getattr(self, name)!r} must be positive", field=name)
        for name in ("stream_max_age_s", "outbox_retention_s"):
            if not getattr(self, name) >= 0:
                raise InvalidInput(f"relay {name} {getattr(self, name)!r} must not be negative", field=name)
        if self.idle_max_s < self.idle_min_s:
            raise InvalidInput(f"relay idle_max_s {self.idle_max_s!r} is below idle_min_s {self.idle_min_s!r}")
        if self.idle_max_s >= self.lease_s:
            raise InvalidInput(f"relay idle_max_s {self.idle_max_s!r} must be below lease_s {self.lease_s!r}")
        if not 1 <= self.purge_batch <= 100_000:
            raise InvalidInput(f"relay purge_batch {self.purge_batch!r} is not in 1-100000", field="purge_batch")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An unpublished outbox row as read: ``payload`` is the stored JSON text, parsed per row so
    one garbled row cannot fail the batch."""

    seq: int
    event_id: str
    payload: str


@dataclass(frozen=True, slots=True)
class Published:
    """What one :meth:`Relay.publish` did with its rows."""

    added: int = 0  # new stream entries
    seen: int = 0  # markers already set: published before, by a round that died before marking
    dead_lettered: int = 0  # garbled rows, now in the dead-letter stream


@dataclass(frozen=True, slots=True)
class _Entry:
    row: OutboxRow
    target: str  # 'e' the events stream, 'd' the dead-letter stream
    fields: dict[str, str]


class Relay:
    """Publishes the outbox to ``keys.EVENTS``. Any number may run; one at a time holds the lease."""

    def __init__(
        self,
        engine: Engine,
        redis_client: redis.Redis,
        *,
        config: RelayConfig | None = None,
        metrics: RelayMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.redis = redis_client
        self.config = config or RelayConfig()
        self.metrics = metrics
        self.clock = clock
        self._token = ""
        self._publish = redis_client.register_script(_PUBLISH)
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._release = redis_client.register_script(_RELEASE)
        self._trim = redis_client.register_script(_TRIM)
        self._next_trim = 0.0  # monotonic
        self._next_purge = 0.0

    # -- a round -----------------------------------------------------------------------------------
    def publish_once(self, limit: int = 500) -> int:
        """Publish up to ``limit`` (1-:data:`MAX_BATCH`) unpublished rows; answer how many rows this
        round settled (published, seen before or dead-lettered). 0 when another relay leads."""
        _check_limit(limit)
        if not self.acquire():
            return 0
        rows = self.read(limit)
        if rows:
            try:
                self.publish(rows)
            except LeaseLost as exc:
                log.warning("%s; leaving %d rows to the new holder", exc, len(rows))
                return 0
            self.mark(rows)
        self._housekeeping()
        return len(rows)

    def run(self, stop: threading.Event, *, limit: int = 500) -> None:
        """Publish until ``stop`` is set: again at once after a round that found rows, otherwise
        after a wait that doubles from ``idle_min_s`` to ``idle_max_s``. Errors are logged and
        waited out. Gives the lease back on the way out."""
        _check_limit(limit)
        idle_s = self.config.idle_min_s
        try:
            while not stop.is_set():
                try:
                    settled = self.publish_once(limit)
                except (redis.RedisError, sa.exc.SQLAlchemyError) as exc:
                    log.warning("outbox relay round failed (retrying in %.2fs): %s", idle_s, exc)
                    settled = 0
                if settled:
                    idle_s = self.config.idle_min_s
                    continue
                stop.wait(idle_s)
                idle_s = min(idle_s * 2, self.config.idle_max_s)
        finally:
            try:
                self.release()
            except redis.RedisError as exc:  # it expires by itself
                log.warning("could not give the relay lease back: %s", exc)

    # -- the steps ---------------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take or renew the lease; False while another relay holds it."""
        token = self._acquire(
            keys=[keys.RELAY_LEASE, keys.RELAY_FENCE], args=[self._token, int(self.config.lease_s * 1000)]
        )
        if token is None:
            if self._token:
                log.warning("relay lease %s lost to another relay", self._token)
            self._token = ""
            return False
        token = token.decode() if isinstance(token, bytes) else str(token)
        if token != self._token:
            log.info("relay lease taken (token %s)", token)
            if self.metrics:
                self.metrics.leases.inc()
        self._token = token
        return True

    def release(self) -> None:
        """Give the lease back (another relay may take it at once)."""
        if self._token:
            self._release(keys=[keys.RELAY_LEASE], args=[self._token])
            self._token = ""

    def read(self, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` committed, unpublished rows, in ``seq`` order."""
        _check_limit(limit)
        query = (
            sa.select(outbox.c.seq, outbox.c.event_id, sa.cast(outbox.c.payload, sa.Text))
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        with read_only(self.engine).begin() as conn:
            return [OutboxRow(int(seq), str(event_id), str(payload)) for seq, event_id, payload in conn.execute(query)]

    def publish(self, rows: Sequence[OutboxRow]) -> Published:
        """Publish ``rows`` in one script call under the lease (:class:`LeaseLost` when it is not
        ours any more: nothing was written)."""
        if not rows:
            return Published()
        if len(rows) > MAX_BATCH:
            raise InvalidInput(f"{len(rows)} outbox rows is more than one batch ({MAX_BATCH})", field="rows")
        entries = [_entry(row) for row in rows]
        args: list[str | int] = [self._token, MARKER_TTL_S, len(entries)]
        for e in entries:
            args += [e.target, len(e.fields)]
            for name, value in e.fields.items():
                args += [name, value]
        markers = [keys.event_seen(e.row.event_id) for e in entries]
        try:
            added = self._publish(keys=[keys.EVENTS, keys.EVENTS_DEAD, keys.RELAY_LEASE, *markers], args=args)
        except redis.ResponseError as exc:
            if str(exc).startswith("LEASE_LOST"):
                self._token = ""
                if self.metrics:
                    self.metrics.leases_lost.inc()
                raise LeaseLost(f"the relay lease is held by another relay ({exc})") from None
            raise
        result = Published(
            added=sum(1 for e, a in zip(entries, added, strict=True) if a and e.target == "e"),
            seen=sum(1 for a in added if not a),
            dead_lettered=sum(1 for e, a in zip(entries, added, strict=True) if a and e.target == "d"),
        )
        for e, a in zip(entries, added, strict=True):
            if a and e.target == "d":
                log.error("outbox row %d (event %s) is not an event: dead-lettered", e.row.seq, e.row.event_id)
        if self.metrics:
            self.metrics.published(result.added, result.seen, result.dead_lettered)
        return result

    def mark(self, rows: Sequence[OutboxRow]) -> None:
        """Mark ``rows`` published (one UPDATE)."""
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.seq.in_([r.seq for r in rows]), outbox.c.published_at.is_(None))
                .values(published_at=self.clock())
            )

    def trim(self) -> int:
        """Trim the stream by age, never past what a consumer group still needs; answer how many
        entries went."""
        removed = int(self._trim(keys=[keys.EVENTS], args=[int(self.config.stream_max_age_s * 1000)]))
        if self.metrics and removed:
            self.metrics.trimmed.inc(removed)
        return removed

    def purge(self) -> int:
        """Delete rows published longer ago than the retention period (one batch); answer how many."""
        cutoff = self.clock() - self.config.outbox_retention_s
        oldest = (
            sa.select(outbox.c.seq)
            .where(outbox.c.published_at < cutoff)
            .order_by(outbox.c.published_at, outbox.c.seq)
            .limit(self.config.purge_batch)
        )
        with self.engine.begin() as conn:
            deleted = conn.execute(sa.delete(outbox).where(outbox.c.seq.in_(oldest.scalar_subquery()))).rowcount
        if self.metrics and deleted:
            self.metrics.purged.inc(deleted)
        return int(deleted)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_trim:
            self._next_trim = now + self.config.trim_every_s
            self.trim()
        if now >= self._next_purge:
            self._next_purge = now + self.config.purge_every_s
            if self.purge() == self.config.purge_batch:
                self._next_purge = now  # more to delete: go on next round


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BATCH:
        raise InvalidInput(f"relay batch limit {limit!r} is not in 1-{MAX_BATCH}", field="limit")


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
