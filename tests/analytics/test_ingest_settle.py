"""The settled position (the group ``analytics``'s last-delivered-id) on a real Redis: where a
restarted ingester starts, dead letters written once, batches with no rows, a group left by the
ingest that read through it (pending entries), and the relay's trim. Crash points are steps."""

from __future__ import annotations

import pytest
import redis
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy import Engine

from darkroom.analytics import GROUP, BatchLimits, Ingester, OutOfOrder, StreamId, committed_position, events_table
from darkroom.analytics.settle import SETTLE_CHUNK_ENTRIES, GroupState, settle
from darkroom.social import keys
from darkroom.social.relay import Relay, RelayConfig
from tests.analytics.conftest import Publish, make_event
from tests.analytics.test_ingest import LIMITS, pending, settled, table_ids


def test_a_batch_of_dead_entries_only_is_settled_past_the_position_and_the_next_batch_commits(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    junk = publish({"junk": "1"}, {"junk": "2"})
    ing = Ingester(redis_client, catalog, LIMITS)
    assert ing.ingest_once().snapshot_id is None  # nothing to append: the position does not move
    assert settled(redis_client) == junk[-1]
    good = make_event()
    publish(good)
    batch = ing.read()
    assert batch.after == junk[-1]  # after the position (none): only settled dead entries in between
    assert ing.commit(batch).rows == 1
    ing.settle(batch)
    restarted = Ingester(redis_client, catalog, LIMITS)
    assert restarted.ingest_once().snapshot_id is None
    assert redis_client.xlen(keys.EVENTS_DEAD) == 2  # each dead letter once


def test_two_ingesters_settling_the_same_dead_entries_write_their_letters_once(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    publish({"junk": "1"}, make_event().to_fields())
    a, b = Ingester(redis_client, catalog, LIMITS), Ingester(redis_client, catalog, LIMITS)
    first, same = a.read(), b.read()
    assert a.commit(first).rows == 1
    a.settle(first)
    assert (b.commit(same).rows, b.commit(same).skipped) == (0, 1)  # stale: a's commit covers it
    b.settle(same)
    assert redis_client.xlen(keys.EVENTS_DEAD) == 1


def test_a_group_left_by_the_ingest_that_read_through_it_is_taken_over(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    events = [make_event() for _ in range(5)]
    fields = [e.to_fields() for e in events]
    entry_ids = publish(fields[0], {"junk": "1"}, *fields[1:])  # 6 entries, the 2nd malformed
    # The older ingest: it read all 6 through the group (pending), committed the first 3 and died
    # before acknowledging them.
    old = Ingester(redis_client, catalog, BatchLimits(max_batch_events=3, max_batch_s=3600, block_ms=1))
    old.commit(old.read())
    redis_client.xreadgroup(GROUP, "ingest", {keys.EVENTS: ">"}, count=6)
    assert (pending(redis_client), settled(redis_client)) == (6, entry_ids[-1])
    assert committed_position(events_table(catalog), keys.EVENTS) == StreamId.parse(entry_ids[2])

    done = Ingester(redis_client, catalog, LIMITS).ingest_once()  # starts before the oldest pending

    assert (done.rows, done.skipped) == (3, 2)
    assert table_ids(catalog) == sorted(e.event_id for e in events)
    dead = redis_client.xrange(keys.EVENTS_DEAD)
    assert [f[b"entry_id"].decode() for _, f in dead] == [entry_ids[1]]  # committed, never settled
    assert (pending(redis_client), settled(redis_client)) == (0, entry_ids[-1])


def test_the_start_is_the_earliest_of_position_settled_and_before_the_oldest_pending() -> None:
    assert GroupState(StreamId(9, 0)).start(None) == "0-0"
    assert GroupState(StreamId(9, 0)).start(StreamId(12, 3)) == "9-0"
    assert GroupState(StreamId(9, 0)).start(StreamId(7, 1)) == "7-1"
    assert GroupState(StreamId(9, 0), StreamId(5, 2)).start(StreamId(7, 1)) == "5-1"
    assert GroupState(StreamId(9, 0), StreamId(5, 0)).start(StreamId(7, 1)) == f"4-{2**64 - 1}"


def test_the_relay_trims_nothing_read_or_committed_but_not_settled(
    db_engine: Engine, redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    entry_ids = publish(*[make_event() for _ in range(1000)])
    relay = Relay(db_engine, redis_client, config=RelayConfig(stream_max_age_s=0))
    ing = Ingester(redis_client, catalog, BatchLimits(max_batch_events=600, max_batch_s=3600, block_ms=1))
    batch = ing.read()
    ing.commit(batch)  # committed, not settled: the group still pins the whole stream
    assert relay.trim() == 0
    ing.settle(batch)
    removed = relay.trim()  # MINID ~: whole nodes at or before the settled position, never past it
    left = [i.decode() for i, _ in redis_client.xrange(keys.EVENTS)]
    assert 0 < removed <= 600 and left[-400:] == entry_ids[600:]
    assert Ingester(redis_client, catalog, LIMITS).ingest_once().rows == 400


def _scripts_run(redis_client: redis.Redis) -> int:
    stats = redis_client.info("commandstats")
    return sum(
        stats.get(f"cmdstat_{c}", {}).get("calls", 0) - stats.get(f"cmdstat_{c}", {}).get("failed_calls", 0)
        for c in ("eval", "evalsha")
    )


def test_many_dead_entries_are_settled_by_scripts_of_a_bounded_size_and_a_crash_between_them_loses_none(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    entry_ids = publish(*[{"junk": str(i)} for i in range(2 * SETTLE_CHUNK_ENTRIES + 1)])
    limits = BatchLimits(max_batch_events=2 * SETTLE_CHUNK_ENTRIES + 1, max_batch_s=3600, block_ms=1)
    first = Ingester(redis_client, catalog, limits)
    batch = first.read()
    assert first.commit(batch).snapshot_id is None
    before = _scripts_run(redis_client)
    first.settle(batch)  # one script would block Redis for the whole batch (seconds at a million)
    assert _scripts_run(redis_client) - before == 3
    assert (settled(redis_client), redis_client.xlen(keys.EVENTS_DEAD)) == (entry_ids[-1], len(entry_ids))
    # A crash after the first script: the settled position at its last dead entry, the rest unwritten.
    redis_client.delete(keys.EVENTS_DEAD, keys.EVENTS)
    entry_ids = publish(*[{"junk": str(i)} for i in range(2 * SETTLE_CHUNK_ENTRIES + 1)])
    redis_client.xgroup_create(keys.EVENTS, GROUP, id="0-0")
    batch = Ingester(redis_client, catalog, limits).read()
    settle(
        redis_client,
        stream=keys.EVENTS,
        dead_stream=keys.EVENTS_DEAD,
        group=GROUP,
        last=entry_ids[999],
        dead=batch.dead[:1000],
    )
    assert Ingester(redis_client, catalog, limits).ingest_once().dead_lettered == len(entry_ids)
    dead = [f[b"entry_id"].decode() for _, f in redis_client.xrange(keys.EVENTS_DEAD)]
    assert dead == entry_ids and settled(redis_client) == entry_ids[-1]


def test_a_stream_recreated_with_ids_below_the_tables_position_is_ingested_from_its_start(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    publish(*[make_event() for _ in range(3)])
    running = Ingester(redis_client, catalog, LIMITS)
    assert running.ingest_once().rows == 3
    redis_client.flushall()  # Redis lost (or restored from an older copy, or on a clock behind)
    again, new = make_event(), [make_event() for _ in range(2)]
    for i, event in enumerate([again, *new], start=1):  # ids below the table's position
        redis_client.xadd(keys.EVENTS, event.to_fields(), id=f"1-{i}")  # type: ignore[arg-type]
    redis_client.xadd(keys.EVENTS, {"junk": "1"}, id="1-9")
    assert len(running.read()) == 0  # nothing after its cursor: it sees the stream is new, starts again
    done = running.ingest_once()  # as a restarted one would: from the new stream's start
    assert (done.rows, done.dead_lettered) == (3, 1)
    assert committed_position(events_table(catalog), keys.EVENTS) == StreamId(1, 9)
    assert settled(redis_client) == "1-9"
    publish(again)  # the next ones follow on as usual; a copy of an ingested event is still dropped
    assert Ingester(redis_client, catalog, LIMITS).ingest_once().duplicates == 1


def test_a_flushed_redis_and_a_deleted_group_lose_nothing_published_after(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    publish(*[make_event() for _ in range(3)])
    running = Ingester(redis_client, catalog, LIMITS)
    assert running.ingest_once().rows == 3
    redis_client.flushall()
    publish(*[make_event() for _ in range(2)])
    assert running.ingest_once().rows == 2  # the settle makes the group again
    redis_client.xgroup_destroy(keys.EVENTS, GROUP)
    publish(make_event())
    assert Ingester(redis_client, catalog, LIMITS).ingest_once().rows == 1
    assert len(set(table_ids(catalog))) == 6


def test_a_stale_ingesters_batch_from_the_older_stream_does_not_hide_the_new_one(
    redis_client: redis.Redis, catalog: SqlCatalog, publish: Publish
) -> None:
    publish(*[make_event() for _ in range(3)])
    assert Ingester(redis_client, catalog, LIMITS).ingest_once().rows == 3
    stale = Ingester(redis_client, catalog, LIMITS)
    publish(*[make_event() for _ in range(2)])
    late = stale.read()  # read from the older stream, then it stalls
    redis_client.flushall()
    for i in (1, 2):
        redis_client.xadd(keys.EVENTS, make_event().to_fields(), id=f"1-{i}")  # type: ignore[arg-type]
    fresh = Ingester(redis_client, catalog, LIMITS)
    batch = fresh.read()  # the new stream, from its start
    with pytest.raises(OutOfOrder):
        stale.commit(late)  # of a stream that is gone: it would put the position above the new one
    assert fresh.commit(batch).rows == 2
    assert len(set(table_ids(catalog))) == 5
