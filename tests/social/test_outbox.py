"""The outbox relay on a real Redis, against SQLite and PostgreSQL (``db_engine``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from darkroom.queue import RedisQueue
from darkroom.runtime.functions import Registry
from darkroom.runtime.workflow import Workflows
from darkroom.social import keys
from darkroom.social.errors import InvalidInput, LeaseLost
from darkroom.social.events import Event, EventType, record
from darkroom.social.ids import new_id
from darkroom.social.metrics import OutboxBacklogCollector, RelayMetrics
from darkroom.social.outbox import Backlog, read_backlog
from darkroom.social.relay import Relay, RelayConfig
from darkroom.social.relay_publish import MAX_BATCH
from darkroom.social.runner import SocialRunner
from darkroom.storage.blobs import BlobStore
from darkroom.storage.db import open_database
from darkroom.storage.schema import outbox
from tests.observability.conftest import wait_until
from tests.social.event_rows import dead_letters, outbox_order, some_events, stream_events, unpublished


def _record(engine: Engine, events: list[Event], per_txn: int = 100) -> None:
    for i in range(0, len(events), per_txn):
        with engine.begin() as conn:
            record(conn, *events[i : i + per_txn])


def test_publishes_committed_rows_once_in_order(db_engine: Engine, redis_client: redis.Redis) -> None:
    events = some_events(12)
    _record(db_engine, events, per_txn=5)
    with pytest.raises(RuntimeError), db_engine.begin() as conn:  # rolled back: never published
        record(conn, *some_events(3))
        raise RuntimeError("the action failed")
    relay = Relay(db_engine, redis_client)

    assert relay.publish_once() == 12
    assert relay.publish_once() == 0
    assert stream_events(redis_client) == events  # every field survives the round trip
    with db_engine.connect() as conn:
        assert unpublished(conn) == 0
    assert all(redis_client.ttl(keys.event_seen(e.event_id)) > 86_000 for e in events)


def test_max_batch_with_garbled_rows_in_the_middle(db_engine: Engine, redis_client: redis.Redis) -> None:
    """A row that is not an event is dead-lettered (with its seq, payload and the reason), the rest of
    the batch is published in order, every row is marked: nothing is lost and nothing blocks."""
    events = some_events(MAX_BATCH)
    garbled = {300: "not an event", 500: {"type": "no.such.type", "event_id": events[500].event_id}}
    with db_engine.begin() as conn:
        rows = [
            {"event_id": e.event_id, "type": str(e.type), "payload": garbled.get(i, e.to_fields()), "created_at": 1.0}
            for i, e in enumerate(events)
        ]
        conn.execute(sa.insert(outbox), rows)
        if db_engine.dialect.name == "sqlite":  # only SQLite can hold text that is not JSON at all
            conn.execute(sa.text("UPDATE outbox SET payload = '{broken' WHERE seq = 701"))
            garbled[700] = "{broken"
    relay = Relay(db_engine, redis_client)

    assert relay.publish_once(MAX_BATCH) == MAX_BATCH

    published = [e for i, e in enumerate(events) if i not in garbled]
    assert stream_events(redis_client) == published
    dead = dead_letters(redis_client)
    assert [(d["source"], d["event_id"], int(d["seq"])) for d in dead] == [
        ("relay", events[i].event_id, i + 1) for i in sorted(garbled)
    ]
    assert "no.such.type" in dead[1]["error"] and "no.such.type" in dead[1]["payload"]
    with db_engine.connect() as conn:
        assert unpublished(conn) == 0


@pytest.mark.parametrize("limit", [0, MAX_BATCH + 1, -1, True, 2.5])
def test_a_limit_out_of_range_is_refused_and_nothing_moves(
    db_engine: Engine, redis_client: redis.Redis, limit: int
) -> None:
    _record(db_engine, some_events(3))
    with pytest.raises(InvalidInput, match=repr(limit)):
        Relay(db_engine, redis_client).publish_once(limit)
    assert not redis_client.exists(keys.EVENTS, keys.RELAY_LEASE)
    with db_engine.connect() as conn:
        assert unpublished(conn) == 3


def test_a_crash_between_publish_and_mark_loses_nothing_and_publishes_nothing_twice(
    db_engine: Engine, redis_client: redis.Redis
) -> None:
    events = some_events(40)
    _record(db_engine, events)
    crashed = Relay(db_engine, redis_client)
    assert crashed.acquire()
    rows = crashed.read(25)
    assert crashed.publish(rows).added == 25
    # ...the process dies here, before mark(); its lease expires:
    redis_client.delete(keys.RELAY_LEASE)
    registry = CollectorRegistry()
    restarted = Relay(db_engine, redis_client, metrics=RelayMetrics(registry))

    assert restarted.publish_once() == 40

    assert stream_events(redis_client) == events
    assert registry.get_sample_value("darkroom_social_outbox_rows_total", {"outcome": "seen"}) == 25
    assert registry.get_sample_value("darkroom_social_outbox_rows_total", {"outcome": "published"}) == 15
    with db_engine.connect() as conn:
        assert unpublished(conn) == 0


def test_a_relay_that_lost_its_lease_cannot_publish(db_engine: Engine, redis_client: redis.Redis) -> None:
    """Fencing: a relay that stalled past its lease finds another relay's token in the lease and
    writes nothing, so the stream keeps the new holder's order."""
    first = some_events(10)
    _record(db_engine, first)
    stalled = Relay(db_engine, redis_client)
    assert stalled.acquire()
    rows = stalled.read(10)
    redis_client.delete(keys.RELAY_LEASE)  # the stall outlives the lease
    taker = Relay(db_engine, redis_client)
    later = some_events(5)
    assert taker.publish_once() == 10
    _record(db_engine, later)
    assert taker.publish_once() == 5

    with pytest.raises(LeaseLost):
        stalled.publish(rows)
    stalled.mark(rows)  # harmless: those rows are published
    assert stalled.publish_once() == 0  # and it does not lead again while the lease is held

    assert stream_events(redis_client) == first + later


def test_two_relays_at_once_publish_every_row_once_in_order(database_url: str, redis_url: str) -> None:
    """Two relays (own engines and Redis connections, as two processes) race while a writer commits;
    each gives its lease back after every round, so the lead changes hands all the time."""
    engines = [open_database(database_url) for _ in range(3)]
    clients = [redis.Redis.from_url(redis_url) for _ in range(3)]
    clients[0].flushdb()
    writer_done = threading.Event()
    errors: list[BaseException] = []
    events = some_events(600)

    def write() -> None:
        try:
            _record(engines[0], events, per_txn=20)
        finally:
            writer_done.set()

    def relay(i: int) -> None:
        r = Relay(engines[i], clients[i])
        try:
            while True:
                drained = writer_done.is_set()  # read before the round: then an empty round is final
                if r.publish_once(limit=7) == 0 and drained and not r.read(1):
                    return
                r.release()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=relay, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors
        assert all(not t.is_alive() for t in threads)
        with engines[0].connect() as conn:
            order = outbox_order(conn)
            assert unpublished(conn) == 0
        assert [e.event_id for e in stream_events(clients[0])] == order
        assert sorted(order) == sorted(e.event_id for e in events)
    finally:
        for e in engines:
            e.dispose()
        for c in clients:
            c.close()


def test_run_publishes_until_stopped_and_gives_the_lease_back(db_engine: Engine, redis_client: redis.Redis) -> None:
    stop = threading.Event()
    relay = Relay(db_engine, redis_client)
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        events = some_events(30)
        _record(db_engine, events, per_txn=10)
        seen = 0
        while seen < 30:  # block on the stream itself, no sleeps
            reply = redis_client.xread({keys.EVENTS: "0-0"}, block=10_000)
            assert reply, "the relay published nothing within 10 s"
            seen = redis_client.xlen(keys.EVENTS)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert stream_events(redis_client) == events
    assert not redis_client.exists(keys.RELAY_LEASE)


def test_trim_never_drops_what_a_group_has_not_read_or_acknowledged(
    db_engine: Engine, redis_client: redis.Redis
) -> None:
    _record(db_engine, some_events(MAX_BATCH), per_txn=MAX_BATCH)
    relay = Relay(db_engine, redis_client, config=RelayConfig(stream_max_age_s=0))
    redis_client.xgroup_create(keys.EVENTS, "slow", id="0", mkstream=True)
    assert relay.publish_once(MAX_BATCH) == MAX_BATCH
    ids = [entry_id for entry_id, _ in redis_client.xrange(keys.EVENTS)]
    read = redis_client.xreadgroup("slow", "c", {keys.EVENTS: ">"}, count=600)[0][1]
    redis_client.xack(keys.EVENTS, "slow", *[entry_id for entry_id, _ in read[:400]])
    oldest_pending = ids[400]

    removed = relay.trim()

    left = [entry_id for entry_id, _ in redis_client.xrange(keys.EVENTS)]
    assert 0 < removed <= 400 and len(left) == MAX_BATCH - removed
    assert left[-600:] == ids[400:]  # everything from the oldest pending entry on is still there
    assert oldest_pending in left
    redis_client.xack(keys.EVENTS, "slow", *[entry_id for entry_id, _ in read[400:]])
    relay.trim()
    assert [entry_id for entry_id, _ in redis_client.xrange(keys.EVENTS)][-400:] == ids[600:]  # unread: kept

    redis_client.xgroup_create(keys.EVENTS, "new", id="0")
    assert relay.trim() == 0  # a group that has read nothing pins the whole stream


def test_trim_by_age_keeps_recent_entries(db_engine: Engine, redis_client: redis.Redis) -> None:
    _record(db_engine, some_events(300), per_txn=300)
    relay = Relay(db_engine, redis_client, config=RelayConfig(stream_max_age_s=3600))
    relay.publish_once()
    assert relay.trim() == 0
    assert redis_client.xlen(keys.EVENTS) == 300


def test_published_rows_are_purged_after_the_retention_period(db_engine: Engine, redis_client: redis.Redis) -> None:
    now = [1_000_000.0]
    config = RelayConfig(outbox_retention_s=3600, purge_batch=4)
    relay = Relay(db_engine, redis_client, config=config, clock=lambda: now[0])
    _record(db_engine, some_events(10))
    relay.publish_once()
    _record(db_engine, some_events(2))  # not published yet: never purged
    now[0] += 3601

    assert [relay.purge() for _ in range(4)] == [4, 4, 2, 0]

    with db_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one() == 2
        assert unpublished(conn) == 2


@pytest.mark.parametrize(
    ("option", "value"),
    [("lease_s", 0), ("idle_min_s", -1.0), ("stream_max_age_s", -1), ("purge_batch", 0), ("idle_max_s", 20.0)],
)
def test_a_bad_relay_config_is_refused(option: str, value: float) -> None:
    with pytest.raises(InvalidInput, match=option):
        RelayConfig(**{option: value})  # type: ignore[arg-type]


def test_event_ids_survive_as_recorded() -> None:
    e = Event(EventType.ACCOUNT_FOLLOWED, new_id(), data={"followee_id": new_id()})
    assert Event.from_fields(e.to_fields()) == e


@pytest.mark.parametrize("broken", ["count", "shape", "lease"])
def test_the_publish_script_writes_nothing_unless_the_whole_batch_checks(
    redis_client: redis.Redis, broken: str
) -> None:
    """The script's own checks, below the relay's: a full batch with one malformed entry in the
    middle, one entry too many, or a lease that is not the caller's leaves no marker and no entry."""
    from darkroom.social.relay_publish import _PUBLISH

    script = redis_client.register_script(_PUBLISH)
    redis_client.set(keys.RELAY_LEASE, "7")
    n = MAX_BATCH + 1 if broken == "count" else MAX_BATCH
    events = some_events(n)
    args: list[str | int] = ["8" if broken == "lease" else "7", 60, n]
    for i, e in enumerate(events):
        fields = e.to_fields()
        pairs = 0 if broken == "shape" and i == n // 2 else len(fields)
        args += ["e", pairs, *[x for kv in fields.items() for x in kv]]
    markers = [keys.event_seen(e.event_id) for e in events]

    with pytest.raises(redis.ResponseError, match="LEASE_LOST" if broken == "lease" else "BAD_BATCH"):
        script(keys=[keys.EVENTS, keys.EVENTS_DEAD, keys.RELAY_LEASE, *markers], args=args)

    assert not redis_client.exists(keys.EVENTS, keys.EVENTS_DEAD, *markers[:: n // 10])
    assert redis_client.dbsize() == 1  # the lease alone


def _insert_at(engine: Engine, created_at: list[float]) -> None:
    events = some_events(len(created_at))
    with engine.begin() as conn:
        conn.execute(
            sa.insert(outbox),
            [
                {"event_id": e.event_id, "type": str(e.type), "payload": e.to_fields(), "created_at": at}
                for e, at in zip(events, created_at, strict=True)
            ],
        )


def test_the_backlog_metric_counts_rows_not_relayed_and_the_oldest_age(
    db_engine: Engine, redis_client: redis.Redis
) -> None:
    now = 1_000.0
    registry = CollectorRegistry()

    def read() -> Backlog:
        with db_engine.connect() as conn:
            return read_backlog(conn, now)

    registry.register(OutboxBacklogCollector(read))

    def scraped() -> tuple[float | None, float | None]:
        return (
            registry.get_sample_value("darkroom_outbox_pending"),
            registry.get_sample_value("darkroom_outbox_oldest_pending_age_seconds"),
        )

    assert scraped() == (0, 0)
    _insert_at(db_engine, [100.0, 200.0, 300.0])
    assert scraped() == (3, 900)
    relay = Relay(db_engine, redis_client)
    assert relay.publish_once(2) == 2  # the two oldest relayed: the third is now the oldest waiting
    assert scraped() == (1, 700)
    assert relay.publish_once() == 1
    assert scraped() == (0, 0)


def test_the_backlog_metric_is_left_out_while_the_database_cannot_be_read(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'no-schema.db'}")  # no outbox table
    registry = CollectorRegistry()

    def read() -> Backlog:
        with engine.connect() as conn:
            return read_backlog(conn, 0.0)

    registry.register(OutboxBacklogCollector(read))
    assert registry.get_sample_value("darkroom_outbox_pending") is None
    engine.dispose()


def test_the_social_runner_serves_the_backlog(
    db_engine: Engine, redis_client: redis.Redis, rq: RedisQueue, blobs: BlobStore
) -> None:
    _insert_at(db_engine, [time.time() - 60])
    registry = CollectorRegistry()
    workflows = Workflows(rq, db_engine, Registry())
    runner = SocialRunner(db_engine, redis_client, workflows, blobs, [], registry=registry)
    assert runner.outbox_backlog().pending == 1
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:  # registered at start; the relay then publishes the row
        wait_until(lambda: registry.get_sample_value("darkroom_outbox_pending") == 0, "the backlog to drain")
        assert registry.get_sample_value("darkroom_outbox_oldest_pending_age_seconds") == 0
    finally:
        stop.set()
        thread.join()
