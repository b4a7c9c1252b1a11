"""Ingest: the events stream into ``darkroom.events``, one Iceberg append commit per micro-batch,
each stream entry exactly once.

A round (:meth:`Ingester.ingest_once`) has three steps, public so a test can stop between them:

1. :meth:`~Ingester.read` a batch (:mod:`darkroom.analytics.batch`): pending entries first, then
   new ones, parsed into rows; malformed entries become dead letters.
2. :meth:`~Ingester.commit` it: rows of entries at or before the table's stream position
   (:mod:`darkroom.analytics.position`) are dropped (committed before a crash), so are event ids
   the table holds (:mod:`darkroom.analytics.dedupe`); the rest is one append whose snapshot summary
   records the batch's last entry id. The append is conditional on the snapshot the position was
   read from: if another commit landed meanwhile it fails, and the step starts over.
3. :meth:`~Ingester.settle` it: the dead letters and the ``XACK`` of every entry, in one ``MULTI``.

A crash before 2 completes leaves the entries pending: the next read returns them again. A crash
after 2, before 3: the next read returns them again, and step 2 finds them at or before the
position and commits nothing; step 3 then acknowledges them and writes their dead letters (which
an acknowledged entry has always had: the ``MULTI``). docs/analytics.md has the whole argument.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import orjson
import redis
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from darkroom.analytics.batch import GROUP, Batch, BatchLimits, BatchReader
from darkroom.analytics.dedupe import EventIdIndex
from darkroom.analytics.errors import OutOfOrder
from darkroom.analytics.position import StreamId, committed_position, summary_properties
from darkroom.analytics.tables import events_table
from darkroom.social import keys

__all__ = ["DEAD_LETTER_MAXLEN", "Committed", "Ingester"]

log = logging.getLogger(__name__)

DEAD_LETTER_MAXLEN = 100_000  # as the relay's and the consumers' dead letters (XADD MAXLEN ~)
_MAX_COMMIT_ATTEMPTS = 10
_ACK_CHUNK = 10_000  # ids per XACK


@dataclass(frozen=True, slots=True)
class Committed:
    """What :meth:`Ingester.commit` did with a batch."""

    snapshot_id: int | None  # the new snapshot; None when there was nothing to append
    rows: int = 0  # rows appended
    skipped: int = 0  # entries at or before the table's position: committed before (or trimmed)
    duplicates: int = 0  # entries whose event_id was earlier in the batch or in the table
    dead_lettered: int = 0


class Ingester:
    """Ingests ``stream`` into ``darkroom.events`` of ``catalog``. Any number may run; they take
    turns (a batch that is not next in the stream waits: :class:`OutOfOrder`)."""

    def __init__(
        self,
        redis_client: redis.Redis,
        catalog: Catalog,
        limits: BatchLimits | None = None,
        *,
        stream: str = keys.EVENTS,
        dead_stream: str = keys.EVENTS_DEAD,
        group: str = GROUP,
    ) -> None:
        self.redis = redis_client
        self.stream = stream
        self.dead_stream = dead_stream
        self.group = group
        self.reader = BatchReader(redis_client, limits, stream=stream, group=group)
        self.catalog = catalog
        self.table: Table = events_table(catalog)
        self.index = EventIdIndex()
        self._stale = False  # a round failed: the table object may not be the catalog's any more

    # -- a round -----------------------------------------------------------------------------------
    def ingest_once(self) -> Committed:
        """Read, commit and settle one batch (an empty one after ``block_ms`` idle)."""
        batch = self.read()
        if not batch:
            return Committed(None)
        try:
            committed = self.commit(batch)
            self.settle(batch)
        except BaseException:
            self._stale = True
            self.reader.rewind()  # the batch is dropped: its entries are read again, in order
            raise
        return committed

    def run(
        self,
        stop: threading.Event,
        *,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        maintenance: Callable[[], object] | None = None,
        maintain_every_s: float = 0.0,
    ) -> None:
        """Ingest until ``stop`` is set (:meth:`overlapped`); a failed round is logged and retried
        after a wait that doubles from ``retry_min_s`` to ``retry_max_s``. ``maintenance``
        (compaction, expiry) runs between rounds, while no commit is under way, every
        ``maintain_every_s`` (0: never), first one interval after the start."""
        retry_s = retry_min_s
        next_maintenance = time.monotonic() + maintain_every_s

        def between() -> None:
            nonlocal next_maintenance
            if maintenance is not None and maintain_every_s > 0 and time.monotonic() >= next_maintenance:
                self._maintain(maintenance)
                next_maintenance = time.monotonic() + maintain_every_s

        def done(committed: Committed) -> None:
            nonlocal retry_s
            retry_s = retry_min_s
            if committed.snapshot_id is not None or committed.dead_lettered:
                log.info(
                    "ingested %d events (%d skipped, %d duplicates, %d dead letters)",
                    committed.rows,
                    committed.skipped,
                    committed.duplicates,
                    committed.dead_lettered,
                )

        while not stop.is_set():
            try:
                self.overlapped(stop, done, between)
            except Exception as exc:  # Redis, the catalog's database, the warehouse: all come back
                log.warning("analytics ingest round failed (retrying in %.1fs): %s", retry_s, exc)
                self.reader.forget_group()
                stop.wait(retry_s)
                retry_s = min(retry_s * 2, retry_max_s)

    def overlapped(
        self, stop: threading.Event, done: Callable[[Committed], None], between: Callable[[], None] | None = None
    ) -> None:
        """Rounds until ``stop`` is set, each batch read while the previous one commits and settles
        on a thread of its own (the Parquet writing and the catalog's round trips release the GIL,
        and Redis serves the read meanwhile). ``done`` gets each batch's :class:`Committed`, in
        order, on this thread.

        Batches still commit one at a time and in stream order. When a commit fails, the batch read
        meanwhile is dropped with it and the reader rewinds: both are read again from the pending
        list, in order, as after a crash. The error is raised once the thread is idle. ``between``
        is called once a round, while no commit is under way (maintenance: :meth:`run`)."""
        with ThreadPoolExecutor(1, thread_name_prefix="ingest-commit") as pool:
            inflight: Future[Committed] | None = None
            try:
                while not stop.is_set():
                    batch = self.read()
                    if inflight is not None:
                        committed, inflight = inflight.result(), None
                        done(committed)
                    if between is not None:
                        between()
                    if batch:
                        inflight = pool.submit(self._commit_settle, batch)
                if inflight is not None:
                    done(inflight.result())
            except BaseException:
                if inflight is not None:
                    wait([inflight])  # no commit may still run when the reader rewinds
                self._stale = True
                self.reader.rewind()
                raise

    def _commit_settle(self, batch: Batch) -> Committed:
        committed = self.commit(batch)
        self.settle(batch)
        return committed

    def _maintain(self, maintenance: Callable[[], object]) -> None:
        try:
            log.info("analytics maintenance: %s", maintenance())
        except Exception as exc:  # maintenance is an optimisation: ingest goes on without it
            log.warning("analytics maintenance failed (next time in one interval): %s", exc)
        self._stale = True  # maintenance committed to the table: reload it before the next commit

    def close(self) -> None:
        """Close the reader's Redis connection (the client passed in stays open)."""
        self.reader.close()

    # -- the steps ---------------------------------------------------------------------------------
    def read(self) -> Batch:
        """The next batch (pending entries first)."""
        return self.reader.read()

    def commit(self, batch: Batch) -> Committed:
        """Append ``batch``'s new rows in one commit recording its last entry id (see the module)."""
        for attempt in range(_MAX_COMMIT_ATTEMPTS):
            if attempt or self._stale:
                self.table.refresh()
                self._stale = False
            try:
                return self._commit(batch)
            except CommitFailedException as exc:
                log.info("ingest commit lost a race (%s); trying again on the new snapshot", exc)
        raise OutOfOrder(f"batch up to {batch.last} lost {_MAX_COMMIT_ATTEMPTS} commit races in a row")

    def settle(self, batch: Batch) -> None:
        """Write ``batch``'s dead letters and acknowledge all its entries, in one ``MULTI``."""
        if not batch:
            return
        pipe = self.redis.pipeline(transaction=True)
        for dead in batch.dead:
            log.error("stream entry %s dead-lettered: %s", dead.entry_id, dead.error)
            pipe.xadd(
                self.dead_stream,
                {
                    "source": "analytics",
                    "group": self.group,
                    "entry_id": dead.entry_id,
                    "error": dead.error[:1000],
                    "event_id": dead.fields.get("event_id", "")[:64],
                    "payload": orjson.dumps(dead.fields).decode()[:65_536],
                },
                maxlen=DEAD_LETTER_MAXLEN,
                approximate=True,
            )
        for i in range(0, len(batch.entry_ids), _ACK_CHUNK):
            pipe.xack(self.stream, self.group, *batch.entry_ids[i : i + _ACK_CHUNK])
        pipe.execute()

    # -- inside commit -----------------------------------------------------------------------------
    def _commit(self, batch: Batch) -> Committed:
        position = committed_position(self.table, self.stream)
        rows = batch.rows
        skipped = batch.gone
        first = batch.entry_ids[0]  # the batch's first entry after the position
        if position is not None and position >= StreamId.parse(first):
            # After a crash: the entries up to the position were committed; rows are in stream order.
            ids = [StreamId.parse(e) for e in rows.entry_ids]
            start = bisect.bisect_right(ids, position)
            skipped += start
            rows = rows.keep(list(range(start, len(rows))))
            first = next((e for e in batch.entry_ids if StreamId.parse(e) > position), batch.last)
        dead = len(batch.dead)
        if not rows:
            return Committed(None, skipped=skipped, duplicates=batch.duplicates, dead_lettered=dead)
        self._check_next(position, first)
        self.index.sync(self.table)
        held = self.index.seen(self.table, rows.event_id)
        if held:
            rows = rows.keep([i for i, e in enumerate(rows.event_id) if e not in held])
        duplicates = batch.duplicates + len(held)
        if not rows:
            return Committed(None, skipped=skipped, duplicates=duplicates, dead_lettered=dead)
        last = StreamId.parse(batch.last)
        self.table.append(rows.to_arrow(), snapshot_properties=summary_properties(self.stream, last))
        snapshot = self.table.current_snapshot()
        return Committed(
            snapshot.snapshot_id if snapshot else None,
            rows=len(rows),
            skipped=skipped,
            duplicates=duplicates,
            dead_lettered=dead,
        )

    def _check_next(self, position: StreamId | None, first: str) -> None:
        """:class:`OutOfOrder` unless every entry between ``position`` and ``first`` is settled.

        Entries in between are read (the group delivers in order) and, unless acknowledged,
        pending: acknowledged ones were committed or dead-lettered, pending ones belong to a batch
        another ingester has not committed yet, which must go first or the position would pass it.
        """
        low = f"({position}" if position is not None else "-"
        pending = self.redis.xpending_range(self.stream, self.group, min=low, max=f"({first}", count=1)
        if pending:
            held = pending[0]["message_id"]
            held = held.decode() if isinstance(held, bytes) else str(held)
            raise OutOfOrder(f"entry {held} before this batch's first ({first}) is pending, not committed")
