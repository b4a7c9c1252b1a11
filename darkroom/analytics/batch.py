"""A micro-batch: the stream entries ingest read in one go, parsed into rows and dead letters.

:class:`BatchReader` reads the events stream with plain ``XREAD`` from a cursor it keeps: no
consumer group delivers the entries, so Redis keeps no pending list for them (the group
``analytics`` stays, as the marker of what ingest has settled: :mod:`darkroom.analytics.settle`).
Where a reader starts is the ingester's to say (:meth:`BatchReader.start`): after a crash, the
table's stream position or the group's, whichever is earlier. A batch ends at ``max_batch_events``
entries or ``max_batch_s`` after its first entry, whichever comes first.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import redis

from darkroom.analytics.errors import InvalidEntry, InvalidIngestConfig
from darkroom.analytics.rows import EventColumns, relay_chunk, row_from_flat
from darkroom.social import keys

__all__ = ["MAX_BATCH_EVENTS", "Batch", "BatchLimits", "BatchReader", "DeadEntry"]

MAX_BATCH_EVENTS = 1_000_000  # one commit's rows at most (about 300 MB of Python strings in flight)
MAX_READ_COUNT = 100_000  # entries per XREAD call at most


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """When a batch ends, and how much one read asks for."""

    max_batch_events: int = 100_000
    max_batch_s: float = 5.0
    block_ms: int = 1_000  # an idle read waits this long before answering an empty batch
    read_count: int = 10_000

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("max_batch_events", self.max_batch_events, 1, MAX_BATCH_EVENTS),
            ("block_ms", self.block_ms, 1, 60_000),  # 0 would block forever: stop could not end run()
            ("read_count", self.read_count, 1, MAX_READ_COUNT),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidIngestConfig(f"ingest {name} {value!r} is not in {low}-{high}")
        if not 0 < self.max_batch_s <= 3600:
            raise InvalidIngestConfig(f"ingest max_batch_s {self.max_batch_s!r} is not in (0, 3600] seconds")


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """An entry that is no event row, and why."""

    entry_id: str
    fields: dict[str, str]
    error: str


@dataclass(slots=True)
class Batch:
    """Every entry read after ``after`` (``entry_ids``, stream order: every entry of the stream in
    between), the rows of the good ones, the bad ones."""

    after: str = "0-0"  # the id the read started after (exclusive)
    entry_ids: list[str] = field(default_factory=list)
    rows: EventColumns = field(default_factory=EventColumns)
    dead: list[DeadEntry] = field(default_factory=list)
    duplicates: int = 0  # entries whose event_id came earlier in this batch (dropped)

    def __len__(self) -> int:
        return len(self.entry_ids)

    @property
    def last(self) -> str:
        return self.entry_ids[-1]

    def extend(self, entries: Sequence[tuple[bytes, Sequence[bytes] | None]], seen: set[str]) -> None:
        """Add ``entries`` (a raw reply's ``[id, fields]`` pairs): column-wise when all are well-formed
        relay entries (:func:`~darkroom.analytics.rows.relay_chunk`), else one by one (:meth:`add`)."""
        chunk = relay_chunk(entries)
        if chunk is None:
            for entry_id, flat in entries:
                self.add(entry_id.decode(), flat, seen)
            return
        self.entry_ids += chunk.entry_ids
        fresh = set(chunk.event_ids)
        if len(fresh) < len(chunk.event_ids) or not seen.isdisjoint(fresh):
            keep = []
            for i, event_id in enumerate(chunk.event_ids):
                if event_id in seen:
                    self.duplicates += 1
                else:
                    seen.add(event_id)
                    keep.append(i)
            chunk = chunk._replace(
                entry_ids=[chunk.entry_ids[i] for i in keep],
                event_ids=[chunk.event_ids[i] for i in keep],
                table=chunk.table.take(pa.array(keep, pa.int64())),  # typed: keep may be empty
            )
        else:
            seen |= fresh
        self.rows.extend(chunk)

    def add(self, entry_id: str, flat: Sequence[bytes] | None, seen: set[str]) -> None:
        """Add the entry ``entry_id`` with its raw field list (None: a deleted entry, dead)."""
        self.entry_ids.append(entry_id)
        flat = flat or []
        try:
            row = row_from_flat(entry_id, flat)
        except InvalidEntry as exc:
            decoded = {
                k.decode(errors="replace"): v.decode(errors="replace")
                for k, v in zip(flat[0::2], flat[1::2], strict=False)
            }
            self.dead.append(DeadEntry(entry_id, decoded, exc.reason))
            return
        if row.event_id in seen:
            self.duplicates += 1
            return
        seen.add(row.event_id)
        self.rows.add(entry_id, row)


class BatchReader:
    """Reads batches from ``stream`` after a cursor (:meth:`start`)."""

    def __init__(
        self,
        redis_client: redis.Redis,
        limits: BatchLimits | None = None,
        *,
        stream: str = keys.EVENTS,
    ) -> None:
        self.redis = redis_client
        self.limits = limits or BatchLimits()
        self.stream = stream
        self._after: str | None = None  # the last entry read; None: not started (or rewound)
        # A connection of its own, spoken to directly: its replies skip redis-py's parsing (a dict
        # per entry; the raw field lists are read column-wise instead), and a read can be sent
        # before the previous reply is parsed.
        self._conn: Any = redis_client.connection_pool.make_connection()
        self._prefetched = False  # a read was sent and its reply not taken yet

    @property
    def started(self) -> bool:
        return self._after is not None

    def start(self, after: str) -> None:
        """Read the entries after ``after`` next."""
        self._after = after

    def rewind(self) -> None:
        """Forget the cursor (a batch was dropped uncommitted): the ingester starts the reader again."""
        self._after = None
        self._conn.disconnect()  # a prefetched reply would be from the old cursor
        self._prefetched = False

    def read(self) -> Batch:
        """The next batch after the cursor; empty after ``block_ms`` idle."""
        if self._after is None:
            raise RuntimeError("BatchReader.read before start")
        # The cyclic GC is off while a batch fills: a reply holds two lists per entry until they are
        # parsed, and every collection would walk all of them (about 40 % of a read's CPU,
        # docs/benchmarks.md); reading makes no cycles. What others make meanwhile waits for the
        # first collection after the batch.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._fill(self._after)
        except BaseException:
            self.rewind()  # it may owe a reply, and the cursor may be past what the caller got
            raise
        finally:
            if was_enabled:
                gc.enable()

    def _fill(self, after: str) -> Batch:
        limits = self.limits
        batch = Batch(after)
        seen: set[str] = set()
        deadline = 0.0
        while len(batch) < limits.max_batch_events:
            count = min(limits.read_count, limits.max_batch_events - len(batch))
            if self._prefetched:
                entries = self._reply()
            else:
                if batch:
                    left_ms = int((deadline - time.monotonic()) * 1000)
                    if left_ms <= 0:
                        break
                    block = min(left_ms, limits.block_ms)
                else:
                    block = limits.block_ms
                entries = self._read(count, block_ms=block)
            if not entries:
                if not batch:
                    break  # idle: answer the empty batch so the caller can look at its stop flag
                continue
            self._after = entries[-1][0].decode()
            room = limits.max_batch_events - len(batch) - len(entries)
            if room > 0 and (not batch or time.monotonic() < deadline):
                # Ask for the next entries before parsing these: Redis serves them meanwhile. The
                # reply fits this batch (room), and is taken before any deadline check; none is
                # asked for past the deadline, or a busy stream would fill every batch to the count.
                self._send(min(limits.read_count, room), block_ms=None)
                self._prefetched = True
            if not batch:
                deadline = time.monotonic() + limits.max_batch_s
            batch.extend(entries, seen)
        return batch

    def _read(self, count: int, *, block_ms: int | None) -> list[tuple[bytes, list[bytes] | None]]:
        self._send(count, block_ms=block_ms)
        return self._reply()

    def _send(self, count: int, *, block_ms: int | None) -> None:
        args: list[str | int] = ["XREAD", "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        self._conn.send_command(*args, "STREAMS", self.stream, self._after)

    def _reply(self) -> list[tuple[bytes, list[bytes] | None]]:
        self._prefetched = False
        reply: Any = self._conn.read_response()
        if not reply:
            return []
        # RESP3 answers {stream: entries}, RESP2 [[stream, entries]]; an entry is [id, [name, value, …]]
        entries: list[tuple[bytes, list[bytes] | None]] = (
            next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
        )
        return entries

    def close(self) -> None:
        """Close the reader's connection."""
        self._conn.disconnect()
