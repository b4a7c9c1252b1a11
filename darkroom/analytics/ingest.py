"""Ingest: the events stream into ``darkroom.events``, one Iceberg append commit per micro-batch,
each stream entry exactly once.

A round (:meth:`Ingester.ingest_once`) has three steps, public so a test can stop between them:

1. :meth:`~Ingester.read` a batch (:mod:`darkroom.analytics.batch`): the entries after the
   reader's cursor (plain ``XREAD``: no pending list), parsed into rows; malformed entries become
   dead letters. A reader starts (and, after a failed round, starts again) at the earlier of the
   table's stream position and the group's settled position (:mod:`darkroom.analytics.settle`).
2. :meth:`~Ingester.commit` it: rows of entries at or before the table's stream position
   (:mod:`darkroom.analytics.position`) are dropped (committed before a crash), so are event ids
   the table holds (:mod:`darkroom.analytics.dedupe`); the rest is one append whose snapshot summary
   records the batch's last entry id. The append is conditional on the snapshot the position was
   read from: if another commit landed meanwhile it fails, and the step starts over.
3. :meth:`~Ingester.settle` it: its dead letters, and the settled position moved to its last
   entry, in one script.

A crash before 2 completes: the next reader starts at or before the batch and appends it. A crash
after 2, before 3: the next reader starts at the settled position, before the batch; step 2 finds
its entries at or before the position and commits nothing, and step 3 writes the dead letters not
written before. docs/analytics.md has the whole argument.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import redis
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from darkroom.analytics.batch import Batch, BatchLimits, BatchReader
from darkroom.analytics.dedupe import EventIdIndex
from darkroom.analytics.errors import OutOfOrder
from darkroom.analytics.position import StreamId, committed_position, summary_properties
from darkroom.analytics.settle import DEAD_LETTER_MAXLEN, GROUP, GroupState, ensure_group, group_state, settle
from darkroom.analytics.tables import events_table
from darkroom.social import keys

__all__ = ["DEAD_LETTER_MAXLEN", "Committed", "Ingester"]

log = logging.getLogger(__name__)

_MAX_COMMIT_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class Committed:
    """What :meth:`Ingester.commit` did with a batch."""

    snapshot_id: int | None  # the new snapshot; None when there was nothing to append
    rows: int = 0  # rows appended
    skipped: int = 0  # rows of entries at or before the table's position: committed before
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
        self.reader = BatchReader(redis_client, limits, stream=stream)
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
                self.reader.rewind()
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
        meanwhile is dropped with it and the reader rewinds: both are read again from the earlier
        of the table's and the settled position, in order, as after a crash. The error is raised
        once the thread is idle. ``between`` is called once a round, while no commit is under way
        (maintenance: :meth:`run`)."""
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
        """The next batch (from the start position after a start or a failed round)."""
        if not self.reader.started:
            self._start()
        batch = self.reader.read()
        if not batch and _recreated(self._last_generated(), StreamId.parse(batch.after)):
            self.reader.rewind()  # the stream was made again below the cursor: start again (_start)
        return batch

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
        """Write ``batch``'s dead letters not written before and move the settled position to its
        last entry, in one script."""
        if batch:
            settle(
                self.redis,
                stream=self.stream,
                dead_stream=self.dead_stream,
                group=self.group,
                last=batch.last,
                dead=batch.dead,
            )

    def _start(self) -> None:
        """Start the reader at the earlier of the table's position and the group's settled one (no
        commit is under way: at the start, or after a failed round)."""
        self.table.refresh()
        self._stale = False
        position = committed_position(self.table, self.stream)
        if position is not None and _recreated(self._last_generated(), position, missing=True):
            # The stream was made again (Redis lost or restored, on a clock behind): the position
            # and the group's are the old stream's. Read this one from its start; event ids the
            # table holds are dropped as ever, and the first commit records this stream's id.
            log.warning(
                "stream %s was made again below the table's position %s: ingesting it from its start",
                self.stream,
                position,
            )
            position = None
            ensure_group(self.redis, self.stream, self.group, None)
            self.redis.xgroup_setid(self.stream, self.group, "0-0")
        state = group_state(self.redis, self.stream, self.group)
        if state is None:  # a new group: nothing after the table's position is settled
            ensure_group(self.redis, self.stream, self.group, position)
            state = group_state(self.redis, self.stream, self.group) or GroupState(StreamId(0, 0))
        self.reader.start(state.start(position))

    # -- inside commit -----------------------------------------------------------------------------
    def _last_generated(self) -> StreamId | None:
        """The stream's last-generated-id; None when there is no stream."""
        try:
            info = self.redis.xinfo_stream(self.stream)
        except redis.ResponseError:  # no such key
            return None
        last = info["last-generated-id"]
        return StreamId.parse(last.decode() if isinstance(last, bytes) else str(last))

    def _commit(self, batch: Batch) -> Committed:
        position = committed_position(self.table, self.stream)
        if position is not None and _recreated(self._last_generated(), position):
            position = None  # an older stream's (see _start): nothing of this one is committed yet
        rows = batch.rows
        skipped = 0
        if position is not None and position >= StreamId.parse(batch.entry_ids[0]):
            # After a crash: the entries up to the position were committed; rows are in stream order.
            ids = [StreamId.parse(e) for e in rows.entry_ids]
            start = bisect.bisect_right(ids, position)
            skipped += start
            rows = rows.keep(list(range(start, len(rows))))
        dead = len(batch.dead)
        # Checked for a batch with no rows too: its settle would move the settled position past
        # the entries before it, and the trim and later batches' checks count on that position.
        self._check_next(position, StreamId.parse(batch.after))
        if not rows:
            return Committed(None, skipped=skipped, duplicates=batch.duplicates, dead_lettered=dead)
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

    def _check_next(self, position: StreamId | None, after: StreamId) -> None:
        """:class:`OutOfOrder` unless no entry between ``position`` and ``after`` (where the batch's
        read started) needs a row: the batch starts at or before the position, or every entry in
        between is settled (they were dead or duplicates, so no commit moved the position past
        them), or the position would pass entries never committed.
        """
        if after <= (position or StreamId(0, 0)):
            return
        state = group_state(self.redis, self.stream, self.group)
        if (
            state is not None
            and after <= state.settled
            and (state.oldest_pending is None or state.oldest_pending > after)  # an older ingest's
        ):
            return
        raise OutOfOrder(f"entries after {position} up to {after}, before this batch, are not committed")


def _recreated(last_generated: StreamId | None, position: StreamId, *, missing: bool = False) -> bool:
    """Whether the stream was made again since ``position`` was one of its ids: its last-generated
    id never goes back otherwise. A missing stream counts when ``missing``."""
    return missing if last_generated is None else last_generated < position
