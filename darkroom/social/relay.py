"""The outbox relay: publishes committed outbox rows to the events stream, once each, in order.

Each round (:meth:`Relay.publish_once`) runs four steps, public so a test can stop between them:

1. :meth:`~Relay.acquire` the relay lease (:mod:`darkroom.social.relay_lease`): one relay
   publishes at a time, and its fencing token keeps a relay that stalled past its lease from
   publishing after another relay has taken over.
2. :meth:`~Relay.read` unpublished rows in ``seq`` order (:mod:`darkroom.social.outbox`; no SQL
   lock: the lease serializes).
3. :meth:`~Relay.publish` them in one script call (:mod:`darkroom.social.relay_publish`): each
   row once, under its publish-once marker, or to the dead-letter stream when it is no event.
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

import redis
import sqlalchemy as sa
from sqlalchemy import Engine

from darkroom.social import keys
from darkroom.social.errors import InvalidInput, LeaseLost
from darkroom.social.metrics import RelayMetrics
from darkroom.social.outbox import OutboxRow, delete_published, mark_published, read_unpublished
from darkroom.social.relay_lease import RelayLease
from darkroom.social.relay_publish import MAX_BATCH, Published, Publisher
from darkroom.storage.db import read_only

__all__ = ["Relay", "RelayConfig"]

log = logging.getLogger(__name__)


# KEYS: 1 the stream. ARGV: 1 max age ms. Trims entries older than the age (MINID ~: whole macro
# nodes only, so never more than asked), but never one a group has not read (after its
# last-delivered-id) or not acknowledged (its oldest pending). Returns the entries removed.
_TRIM = (
    keys.STREAM_ID_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
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
)


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
        self.lease = RelayLease(redis_client, metrics=metrics)
        self._publisher = Publisher(redis_client)
        self._trim = redis_client.register_script(_TRIM)
        self._next_trim = 0.0  # monotonic
        self._next_purge = 0.0

    # -- a round -----------------------------------------------------------------------------------
    def publish_once(self, limit: int = 500) -> int:
        """Publish up to ``limit`` (1-:data:`~darkroom.social.relay_publish.MAX_BATCH`) unpublished
        rows; answer how many rows this round settled (published, seen before or dead-lettered).
        0 when another relay leads."""
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
        return self.lease.acquire(self.config.lease_s)

    def release(self) -> None:
        """Give the lease back (another relay may take it at once)."""
        self.lease.release()

    def read(self, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` committed, unpublished rows, in ``seq`` order."""
        _check_limit(limit)
        with read_only(self.engine).begin() as conn:
            return read_unpublished(conn, limit)

    def publish(self, rows: Sequence[OutboxRow]) -> Published:
        """Publish ``rows`` in one script call under the lease (:class:`LeaseLost` when it is not
        ours any more: nothing was written)."""
        try:
            result = self._publisher.publish(self.lease.token, rows)
        except LeaseLost:
            self.lease.lost()
            raise
        if self.metrics and rows:
            self.metrics.published(result.added, result.seen, result.dead_lettered)
        return result

    def mark(self, rows: Sequence[OutboxRow]) -> None:
        """Mark ``rows`` published (one UPDATE)."""
        if not rows:
            return
        with self.engine.begin() as conn:
            mark_published(conn, rows, self.clock())

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
        with self.engine.begin() as conn:
            deleted = delete_published(conn, cutoff, self.config.purge_batch)
        if self.metrics and deleted:
            self.metrics.purged.inc(deleted)
        return deleted

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
