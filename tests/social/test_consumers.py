"""The consumer-group runner on a real Redis; the crash test also runs the counters on SQLite and
PostgreSQL, with the consumer in a subprocess killed with SIGKILL mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from darkroom.social import keys
from darkroom.social.consumers import MAX_CONSUMER_BATCH, Consumer
from darkroom.social.counters import CountersHandler, repair_counters
from darkroom.social.errors import InvalidInput
from darkroom.social.events import Event
from darkroom.social.metrics import ConsumerMetrics
from darkroom.social.relay import Relay
from tests.social import consumer_proc
from tests.social import event_rows as rows

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """Records each batch it handled; raises on the events named in ``poison``."""

    def __init__(self, name: str = "recorder", poison: Sequence[str] = ()) -> None:
        self.name = name
        self.poison = set(poison)
        self.batches: list[list[str]] = []
        self.attempts = 0

    def handle(self, batch: Sequence[Event]) -> None:
        self.attempts += 1
        bad = [e.event_id for e in batch if e.event_id in self.poison]
        if bad:
            raise RuntimeError(f"cannot handle {bad[0]}")
        self.batches.append([e.event_id for e in batch])

    @property
    def handled(self) -> list[str]:
        return [i for b in self.batches for i in b]


def _add(client: redis.Redis, events: Sequence[Event]) -> list[bytes]:
    pipe = client.pipeline(transaction=False)
    for e in events:
        pipe.xadd(keys.EVENTS, e.to_fields())  # type: ignore[arg-type]
    return pipe.execute()  # type: ignore[no-any-return]


def _pending(client: redis.Redis, group: str) -> int:
    return int(client.xpending(keys.EVENTS, group)["pending"])


def test_a_new_group_reads_the_history_and_acknowledges_after_handling(redis_client: redis.Redis) -> None:
    events = rows.some_events(25)
    _add(redis_client, events[:20])  # before the group exists
    recorder = Recorder()
    consumer = Consumer(redis_client, recorder, consumer_name="c1", batch=8, block_ms=10)

    while consumer.poll_once():
        pass
    _add(redis_client, events[20:])
    assert consumer.poll_once() == 5

    assert recorder.handled == [e.event_id for e in events]
    assert max(len(b) for b in recorder.batches) == 8
    assert _pending(redis_client, "recorder") == 0


def test_a_poison_entry_is_retried_alone_then_dead_lettered_and_the_rest_handled(redis_client: redis.Redis) -> None:
    events = rows.some_events(10)
    poison = events[5].event_id
    _add(redis_client, events)
    recorder = Recorder(poison=[poison])
    registry = CollectorRegistry()
    consumer = Consumer(
        redis_client, recorder, consumer_name="c1", max_deliveries=3, block_ms=10, metrics=ConsumerMetrics(registry)
    )

    assert consumer.poll_once() == 9  # the batch fails; one by one, all but the poison pass
    assert consumer.poll_once() == 0  # delivery 2 fails
    assert consumer.poll_once() == 1  # delivery 3 fails: dead-lettered
    assert consumer.poll_once() == 0

    assert sorted(recorder.handled) == sorted(e.event_id for e in events if e.event_id != poison)
    [dead] = rows.dead_letters(redis_client)
    assert (dead["source"], dead["group"], dead["event_id"], dead["deliveries"]) == (
        "consumer",
        "recorder",
        poison,
        "3",
    )
    assert f"RuntimeError: cannot handle {poison}" in dead["error"]
    assert Event.from_fields(json.loads(dead["payload"])) == events[5]
    assert _pending(redis_client, "recorder") == 0

    def sample(outcome: str) -> float | None:
        return registry.get_sample_value(
            "darkroom_social_events_consumed_total", {"group": "recorder", "outcome": outcome}
        )

    assert (sample("handled"), sample("failed"), sample("dead_lettered")) == (9, 2, 1)
    assert registry.get_sample_value("darkroom_social_events_group_pending", {"group": "recorder"}) == 0


def test_a_full_batch_with_a_garbled_entry_in_the_middle(redis_client: redis.Redis) -> None:
    events = rows.some_events(MAX_CONSUMER_BATCH - 1)
    ids = _add(redis_client, events[:500])
    garbled = redis_client.xadd(keys.EVENTS, {"type": "no.such.type", "event_id": "x"})
    ids += _add(redis_client, events[500:])
    recorder = Recorder()
    consumer = Consumer(redis_client, recorder, consumer_name="c1", batch=MAX_CONSUMER_BATCH, block_ms=10)

    assert consumer.poll_once() == MAX_CONSUMER_BATCH

    assert recorder.batches == [[e.event_id for e in events]]
    [dead] = rows.dead_letters(redis_client)
    assert dead["entry_id"] == garbled.decode() and "not an event" in dead["error"]
    assert _pending(redis_client, "recorder") == 0


def test_entries_a_dead_consumer_left_are_claimed(redis_client: redis.Redis) -> None:
    events = rows.some_events(6)
    _add(redis_client, events)
    redis_client.xgroup_create(keys.EVENTS, "recorder", id="0")
    redis_client.xreadgroup("recorder", "dead", {keys.EVENTS: ">"}, count=4)  # then it died
    recorder = Recorder()
    idle_forever = Consumer(redis_client, recorder, consumer_name="live", block_ms=10)
    assert idle_forever.poll_once() == 2  # the dead one's entries are not idle long enough yet
    claiming = Consumer(redis_client, recorder, consumer_name="live", block_ms=10, claim_idle_ms=0)

    assert claiming.poll_once() == 4

    assert sorted(recorder.handled) == sorted(e.event_id for e in events)
    assert _pending(redis_client, "recorder") == 0


def test_an_entry_trimmed_while_pending_is_acknowledged_unhandled(redis_client: redis.Redis) -> None:
    events = rows.some_events(3)
    ids = _add(redis_client, events)
    redis_client.xgroup_create(keys.EVENTS, "recorder", id="0")
    redis_client.xreadgroup("recorder", "c", {keys.EVENTS: ">"}, count=3)
    redis_client.xdel(keys.EVENTS, ids[1])
    recorder = Recorder()

    Consumer(redis_client, recorder, consumer_name="c").poll_once()  # (XAUTOCLAIM may drop it first)

    assert recorder.handled == [events[0].event_id, events[2].event_id]
    assert _pending(redis_client, "recorder") == 0 and not rows.dead_letters(redis_client)


def test_an_entry_that_killed_its_consumers_too_often_is_dead_lettered_unhandled(redis_client: redis.Redis) -> None:
    events = rows.some_events(3)
    ids = _add(redis_client, events)
    redis_client.xgroup_create(keys.EVENTS, "recorder", id="0")
    redis_client.xreadgroup("recorder", "dead", {keys.EVENTS: ">"}, count=3)
    # entry 0 was delivered 5 times already (each consumer died on it); the others once
    redis_client.xclaim(keys.EVENTS, "recorder", "dead", 0, [ids[0]], retrycount=5)
    recorder = Recorder()

    assert Consumer(redis_client, recorder, consumer_name="c", max_deliveries=5, claim_idle_ms=0).poll_once() == 3

    assert recorder.handled == [events[1].event_id, events[2].event_id]
    [dead] = rows.dead_letters(redis_client)
    assert dead["deliveries"] == "6" and "may have died" in dead["error"]


def test_run_handles_until_stopped(redis_client: redis.Redis) -> None:
    done = threading.Event()
    events = rows.some_events(12)

    class Signalling(Recorder):
        def handle(self, batch: Sequence[Event]) -> None:
            super().handle(batch)
            if len(self.handled) == len(events):
                done.set()

    recorder = Signalling()
    stop = threading.Event()
    thread = threading.Thread(
        target=Consumer(redis_client, recorder, consumer_name="c", batch=5, block_ms=50).run, args=(stop,)
    )
    thread.start()
    _add(redis_client, events)
    assert done.wait(30)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert recorder.handled == [e.event_id for e in events]


@pytest.mark.parametrize(
    ("option", "value"),
    [("consumer_name", ""), ("batch", 0), ("batch", MAX_CONSUMER_BATCH + 1), ("block_ms", 0), ("max_deliveries", 0)],
)
def test_a_bad_consumer_option_is_refused(redis_client: redis.Redis, option: str, value: object) -> None:
    options: dict[str, object] = {"consumer_name": "c", option: value}
    with pytest.raises(InvalidInput, match=option):
        Consumer(redis_client, Recorder(), **options)  # type: ignore[arg-type]
    assert not redis_client.exists(keys.EVENTS)


# -- kill -9 mid-batch -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("crash_point", ["before", "after"])
def test_a_consumer_killed_mid_batch_leaves_the_counters_right(
    database_url: str, db_engine: Engine, redis_client: redis.Redis, redis_url: str, crash_point: str
) -> None:
    """``before``: killed before the batch's transaction; ``after``: after its commit, before the
    acknowledgement (the batch is applied twice). The restarted consumer takes the same name for
    ``before`` (its own pending entries) and another for ``after`` (it claims the dead one's)."""
    with db_engine.begin() as conn:
        people = [rows.account(conn, f"p{i}") for i in range(6)]
    with db_engine.begin() as conn:
        made = [rows.post(conn, p) for p in people]
        for i, p in enumerate(people):
            for q in people[i + 1 :]:
                rows.follow(conn, p, q)
                rows.like(conn, p, made[people.index(q)])
        rows.comment(conn, people[0], made[5])
    relay = Relay(db_engine, redis_client)
    while relay.publish_once():
        pass
    all_ids = {e.event_id for e in rows.stream_events(redis_client)}

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.social.consumer_proc", redis_url, database_url, "c1", crash_point, "10"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        signalled = redis_client.blpop([consumer_proc.SIGNAL], timeout=60)
        assert signalled is not None, "the consumer never started a batch"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert _pending(redis_client, "counters") == 10

    restarted = Consumer(
        redis_client,
        consumer_proc.Recording(CountersHandler(db_engine, redis_client), redis_client),
        consumer_name="c1" if crash_point == "before" else "c2",
        claim_idle_ms=0,
        block_ms=10,
    )
    while restarted.poll_once():
        pass

    assert _pending(redis_client, "counters") == 0
    handled = [i.decode() for i in redis_client.lrange(consumer_proc.HANDLED, 0, -1)]
    assert set(handled) == all_ids and len(handled) == len(all_ids)
    with db_engine.begin() as conn:
        report = repair_counters(conn)  # what the rows say is exactly what the consumer left
        assert (report.accounts_fixed, report.posts_fixed) == (0, 0)
        assert rows.account_counts(conn, people[:1])[people[0]] == (0, 5, 1)
        assert rows.post_counts(conn, made[5:])[made[5]] == (5, 1)
