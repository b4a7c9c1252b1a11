"""Ingest on a real Redis and a real SQLite catalog: batches, crashes between the steps of a batch
(a new Ingester is a restarted process), duplicates, dead letters and the batch limits."""

from __future__ import annotations

import gc
import threading

import pytest
import redis
from pyiceberg.catalog.sql import SqlCatalog

from darkroom.analytics import (
    GROUP,
    MAX_BATCH_EVENTS,
    Batch,
    BatchLimits,
    Committed,
    Ingester,
    InvalidIngestConfig,
    OutOfOrder,
    StreamId,
    committed_position,
    events_table,
)
from darkroom.social import keys
from darkroom.social.events import EventType
from tests.analytics.conftest import Publish, make_event

LIMITS = BatchLimits(max_batch_events=1000, max_batch_s=0.05, block_ms=1)


def ingester(redis_client: redis.Redis, catalog: SqlCatalog, limits: BatchLimits = LIMITS) -> Ingester:
    return Ingester(redis_client, catalog, limits)


def table_ids(catalog: SqlCatalog) -> list[str]:
    return sorted(events_table(catalog).scan(selected_fields=("event_id",)).to_arrow().column(0).to_pylist())


def pending(redis_client: redis.Redis) -> int:
    return int(redis_client.xpending(keys.EVENTS, GROUP)["pending"])


def settled(redis_client: redis.Redis) -> str:
    """The group's settled position (its last-delivered-id)."""
    (group,) = (g for g in redis_client.xinfo_groups(keys.EVENTS) if g["name"] == GROUP.encode())
    return str(group["last-delivered-id"].decode())


def test_a_batch_is_one_commit_recording_its_last_entry(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    events = [make_event(kind) for kind in EventType]
    entry_ids = publish(*events)
    ing = ingester(redis_client, catalog)
    done = ing.ingest_once()
    assert (done.rows, done.skipped, done.duplicates, done.dead_lettered) == (len(events), 0, 0, 0)
    table = events_table(catalog)
    assert len(table.snapshots()) == 1
    assert committed_position(table, keys.EVENTS) == StreamId.parse(entry_ids[-1])
    assert table_ids(catalog) == sorted(e.event_id for e in events)
    rows = {r["event_id"]: r for r in table.scan().to_arrow().to_pylist()}
    liked = next(e for e in events if e.type == EventType.POST_LIKED)
    assert rows[liked.event_id]["type"] == "post.liked"
    assert rows[liked.event_id]["post_id"] == liked.post_id
    assert pending(redis_client) == 0
    assert ing.ingest_once().snapshot_id is None  # idle: an empty batch, no commit


def test_a_crash_before_the_commit_reads_the_batch_again(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    events = [make_event() for _ in range(20)]
    publish(*events)
    first = ingester(redis_client, catalog)
    assert len(first.read()) == 20  # read, then the process dies: nothing committed, nothing settled
    assert settled(redis_client) == "0-0"
    done = ingester(redis_client, catalog).ingest_once()
    assert (done.rows, done.skipped) == (20, 0)
    assert table_ids(catalog) == sorted(e.event_id for e in events)
    assert pending(redis_client) == 0


def test_a_crash_after_the_commit_before_the_ack_skips_then_acks(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    events = [make_event() for _ in range(20)]
    publish(*events)
    first = ingester(redis_client, catalog)
    first.commit(first.read())  # committed; the process dies before settling
    assert settled(redis_client) == "0-0"
    later = [make_event() for _ in range(5)]
    entry_ids = publish(*later)
    done = ingester(redis_client, catalog).ingest_once()  # starts at the settled position, before the 20
    assert (done.rows, done.skipped) == (5, 20)  # the committed 20 are skipped, the 5 new ones appended
    assert table_ids(catalog) == sorted(e.event_id for e in events + later)
    assert settled(redis_client) == entry_ids[-1]
    assert len(events_table(catalog).snapshots()) == 2


def test_an_event_published_twice_is_one_row(redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish) -> None:
    a, b = make_event(), make_event()
    publish(a, a, b)  # twice in one batch
    ing = ingester(redis_client, catalog)
    assert (ing.ingest_once().rows, ing.ingest_once().rows) == (2, 0)
    publish(a, make_event(), b)  # again, in a later batch: the table holds them already
    done = ing.ingest_once()
    assert (done.rows, done.duplicates) == (1, 2)
    restarted = ingester(redis_client, catalog)  # a new process: its index is built from the manifests
    publish(b)
    assert restarted.ingest_once().duplicates == 1
    ids = table_ids(catalog)
    assert len(ids) == len(set(ids)) == 3


def test_malformed_entries_are_dead_lettered_once_and_do_not_block(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    good = make_event()
    bad = make_event().to_fields() | {"type": "post.shared"}
    entry_ids = publish(bad, good, {"junk": "1"})
    first = ingester(redis_client, catalog)
    first.commit(first.read())  # dies before the MULTI of dead letters and acks
    assert redis_client.xlen(keys.EVENTS_DEAD) == 0
    done = ingester(redis_client, catalog).ingest_once()
    assert (done.rows, done.skipped, done.dead_lettered) == (0, 1, 2)
    dead = redis_client.xrange(keys.EVENTS_DEAD)
    assert [f[b"entry_id"].decode() for _, f in dead] == [entry_ids[0], entry_ids[2]]
    assert b"post.shared" in dead[0][1][b"error"]
    assert dead[1][1][b"error"] == b"it has no event_id field"
    assert table_ids(catalog) == [good.event_id]
    assert pending(redis_client) == 0


def test_only_malformed_entries_commit_nothing(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    publish({"junk": "1"})
    done = ingester(redis_client, catalog).ingest_once()
    assert (done.snapshot_id, done.dead_lettered) == (None, 1)
    assert pending(redis_client) == 0
    publish(make_event())
    assert ingester(redis_client, catalog).ingest_once().rows == 1  # the settled dead entry holds nothing back


def test_a_batch_ends_at_max_batch_events(redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish) -> None:
    publish(*[make_event() for _ in range(20)])
    # a long max_batch_s: only the count can end these batches
    ing = ingester(redis_client, catalog, BatchLimits(max_batch_events=10, max_batch_s=3600, read_count=3))
    assert [ing.ingest_once().rows for _ in range(2)] == [10, 10]
    assert len(events_table(catalog).snapshots()) == 2
    assert len(table_ids(catalog)) == 20


def test_the_limits_at_their_bounds() -> None:
    assert BatchLimits(max_batch_events=MAX_BATCH_EVENTS, read_count=100_000).max_batch_events == MAX_BATCH_EVENTS
    for bad in (
        {"max_batch_events": MAX_BATCH_EVENTS + 1},
        {"max_batch_events": 0},
        {"read_count": 100_001},
        {"block_ms": 0},
        {"max_batch_s": 0},
    ):
        with pytest.raises(InvalidIngestConfig, match=str(next(iter(bad.values())))):
            BatchLimits(**bad)  # type: ignore[arg-type]


def test_a_batch_read_after_one_not_committed_yet_waits(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    limits = BatchLimits(max_batch_events=5, max_batch_s=3600, block_ms=1)
    ing = ingester(redis_client, catalog, limits)
    publish(*[make_event() for _ in range(10)])
    first, second = ing.read(), ing.read()  # the second is read while the first commits (overlapped)
    assert second.after == first.last
    with pytest.raises(OutOfOrder, match=first.last):
        ing.commit(second)  # the position would pass the first batch's entries
    ing.commit(first)
    assert ing.commit(second).rows == 5
    assert len(table_ids(catalog)) == 10


def test_two_ingesters_read_the_same_entries_and_take_turns_committing(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    limits = BatchLimits(max_batch_events=5, max_batch_s=3600, block_ms=1)
    a, b = ingester(redis_client, catalog, limits), ingester(redis_client, catalog, limits)
    entry_ids = publish(*[make_event() for _ in range(12)])
    a1, b1 = a.read(), b.read()  # no group hands out entries: both read from the start
    assert a1.entry_ids == b1.entry_ids == entry_ids[:5]
    assert a.commit(a1).rows == 5
    a2 = a.read()
    assert (b.commit(b1).rows, b.commit(b1).skipped) == (0, 5)  # lost the race: a's commit covers it
    b2 = b.read()
    assert b.commit(b2).rows == 5  # b goes first this time
    assert (a.commit(a2).rows, a.commit(a2).skipped) == (0, 5)
    a.settle(a2)
    b.settle(b1)  # a stale settle never moves the settled position back
    assert settled(redis_client) == entry_ids[9]
    assert ingester(redis_client, catalog).ingest_once().rows == 2  # a restart: from the settled 10th
    ids = table_ids(catalog)
    assert len(ids) == len(set(ids)) == 12


def test_two_ingesters_committing_the_same_batch_write_it_once(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    publish(*[make_event() for _ in range(8)])
    stale, restarted = ingester(redis_client, catalog), ingester(redis_client, catalog)
    batch = stale.read()  # stalls; a second process reads the same pending entries and commits them
    again = restarted.read()
    assert again.entry_ids == batch.entry_ids
    assert restarted.commit(again).rows == 8
    late = stale.commit(batch)  # its table is one snapshot behind: the commit fails, is redone, skips all
    assert (late.rows, late.skipped) == (0, 8)
    assert len(table_ids(catalog)) == 8


class _CommitFailsOnce(Ingester):
    """An ingester whose ``fail_at``-th commit dies (the catalog or the warehouse gone mid-commit)."""

    def __init__(self, *args: object, fail_at: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.commits = 0
        self.fail_at = fail_at

    def commit(self, batch: Batch) -> Committed:
        self.commits += 1
        if self.commits == self.fail_at:
            raise RuntimeError("the warehouse went away")
        return super().commit(batch)


def test_overlapped_rounds_commit_in_order_and_a_failed_commit_loses_nothing(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    events = [make_event() for _ in range(30)]
    entry_ids = publish(*events)
    limits = BatchLimits(max_batch_events=10, max_batch_s=3600, block_ms=1)
    ing = _CommitFailsOnce(redis_client, catalog, limits, fail_at=2)
    seen: list[Committed] = []
    stop = threading.Event()

    def done(committed: Committed) -> None:
        seen.append(committed)
        if sum(c.rows for c in seen) >= 30:
            stop.set()

    with pytest.raises(RuntimeError, match="warehouse"):
        ing.overlapped(stop, done)  # batch 1 commits; batch 2 fails while batch 3 is being read
    assert [c.rows for c in seen] == [10]
    ing.overlapped(stop, done)  # batches 2 and 3 are read again from the pending list, in order
    assert [c.rows for c in seen] == [10, 10, 10]
    table = events_table(catalog)
    assert committed_position(table, keys.EVENTS) == StreamId.parse(entry_ids[-1])
    ids = table_ids(catalog)
    assert ids == sorted(e.event_id for e in events) and len(set(ids)) == 30
    assert pending(redis_client) == 0


def test_a_batch_with_no_rows_read_after_one_not_committed_yet_waits_too(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    limits = BatchLimits(max_batch_events=5, max_batch_s=3600, block_ms=1)
    ing = ingester(redis_client, catalog, limits)
    publish(*[make_event() for _ in range(5)], *[{"junk": str(i)} for i in range(5)])
    first, second = ing.read(), ing.read()  # the second holds dead entries only
    with pytest.raises(OutOfOrder, match=first.last):
        ing.commit(second)  # settling it would move the settled position past the first batch
    ing.commit(first)
    ing.settle(first)
    assert ing.commit(second).dead_lettered == 5
    ing.settle(second)
    assert settled(redis_client) == second.last and len(table_ids(catalog)) == 5


def test_a_batch_past_max_batch_s_asks_for_no_more_entries(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    publish(*[make_event() for _ in range(20)])
    # A deadline that passes while the first reply is parsed: only the reply asked for meanwhile
    # joins the batch, not every reply after it while entries keep coming.
    ing = ingester(
        redis_client, catalog, BatchLimits(max_batch_events=1000, max_batch_s=1e-6, read_count=5, block_ms=1)
    )
    assert [len(ing.read()) for _ in range(2)] == [10, 10]


def test_the_gc_is_on_again_after_a_read_that_fails(redis_client: redis.Redis, catalog: SqlCatalog) -> None:
    ing = ingester(redis_client, catalog)
    ing.read()  # started
    redis_client.delete(keys.EVENTS)
    redis_client.set(keys.EVENTS, "not a stream")
    assert gc.isenabled()
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        ing.read()
    assert gc.isenabled() and not ing.reader.started  # and it starts again, after the earlier position


def test_column_wise_and_entry_by_entry_reads_give_the_same_rows_and_dead_letters(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    a, b = make_event(), make_event(EventType.ACCOUNT_CREATED, data={}).to_fields() | {"account_id": ""}
    reordered = dict(reversed(list(make_event().to_fields().items())))
    extra = make_event().to_fields() | {"source": "x"}
    missing = {
        k: v for k, v in make_event(EventType.ACCOUNT_CREATED).to_fields().items() if k not in ("data", "post_id")
    }
    huge = make_event(data={"s": "x" * 70_000}).to_fields()
    n = len(publish({"junk": "1"}, a, b, reordered, extra, missing, huge, a, {"event_id": "\xff"}))

    def batch(read_count: int) -> Batch:  # 1: each entry a chunk of its own (the good ones column-wise)
        limits = BatchLimits(max_batch_events=n, max_batch_s=3600, read_count=read_count, block_ms=1)
        return ingester(redis_client, catalog, limits).read()

    one, all_ = batch(1), batch(n)  # all: one chunk with bad entries, read entry by entry
    assert one.rows.to_arrow().equals(all_.rows.to_arrow()) and len(one.rows) == 5
    assert one.dead == all_.dead and len(one.dead) == 3 and one.duplicates == all_.duplicates == 1


def test_a_reply_of_copies_only_of_entries_earlier_in_the_batch_is_read(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    a = make_event()
    publish(a, a)  # republished at once: the second reply (one entry) holds nothing new
    ing = ingester(redis_client, catalog, BatchLimits(max_batch_events=2, max_batch_s=3600, read_count=1, block_ms=1))
    done = ing.ingest_once()
    assert (done.rows, done.duplicates) == (1, 1)


class _SettleFailsOnce(Ingester):
    """An ingester whose ``fail_at``-th settle dies after its commit landed (Redis gone a moment)."""

    def __init__(self, *args: object, fail_at: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.settles = 0
        self.fail_at = fail_at

    def settle(self, batch: Batch) -> None:
        self.settles += 1
        if self.settles == self.fail_at:
            raise redis.ConnectionError("redis went away")
        super().settle(batch)


def test_overlapped_rounds_lose_nothing_when_a_settle_fails_after_its_commit(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    publish(*[make_event() for _ in range(10)], {"junk": "1"}, *[make_event() for _ in range(19)])
    ing = _SettleFailsOnce(
        redis_client, catalog, BatchLimits(max_batch_events=10, max_batch_s=3600, block_ms=1), fail_at=2
    )
    seen: list[Committed] = []
    stop = threading.Event()

    def done(committed: Committed) -> None:
        seen.append(committed)
        if sum(c.rows + c.skipped for c in seen) >= 29:
            stop.set()

    with pytest.raises(redis.ConnectionError):
        ing.overlapped(stop, done)  # batch 2 committed, its settle (and dead letter) lost
    ing.overlapped(stop, done)  # batch 2 again: skipped as committed, settled; then batch 3
    assert [(c.rows, c.skipped, c.dead_lettered) for c in seen] == [(10, 0, 0), (0, 9, 1), (10, 0, 0)]
    assert len(set(table_ids(catalog))) == 29 and redis_client.xlen(keys.EVENTS_DEAD) == 1
