"""The engine's run events end to end: a real engine and worker run workflows, their passes write
``step.finished`` / ``workflow.finished`` to the outbox, the social relay publishes them to the
events stream once each (also after a relay that died between publishing and marking), in the
shape analytics reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.config import ConfigError, Settings
from darkroom.platform.run_events import OutboxRunEvents, run_event_sink
from darkroom.runtime.workflow import Engine
from darkroom.runtime.workflow.run_events import RunEvent, RunEventType
from darkroom.runtime.workflow.store import RunRow
from darkroom.social import keys
from darkroom.social.events import Event
from darkroom.social.relay import Relay
from darkroom.storage.db import open_database
from tests.runtime import funcs
from tests.runtime.conftest import Platform


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'meta.db'}")
    yield engine
    engine.dispose()


def stream(redis_client: redis.Redis) -> list[Event]:
    return [
        Event.from_fields({k.decode(): v.decode() for k, v in fields.items()})
        for _, fields in redis_client.xrange(keys.EVENTS)
    ]


def relay_all(relay: Relay) -> None:
    while relay.publish_once():
        pass


def test_a_run_emits_one_event_per_step_and_one_for_the_run(
    rq: dq.RedisQueue, redis_client: redis.Redis, db: sa.Engine, tmp_path: Path
) -> None:
    platform = Platform(rq, db, funcs.registry, tmp_path / "scratch")
    sink = OutboxRunEvents()
    try:
        platform.start_engine(events=sink)
        # the worker advances its runs too: its passes record events the same way
        platform.start_worker(engine=Engine(rq, db, funcs.registry, events=sink))
        ok = platform.wait(platform.workflows.start("squares", {"n": 3}).id)
        failed = platform.wait(platform.workflows.start("half-failing", {}, priority="batch").id)
    finally:
        platform.stop()
    assert (ok.state, failed.state) == ("succeeded", "failed")
    relay_all(Relay(db, redis_client))
    events = stream(redis_client)
    assert len({e.event_id for e in events}) == len(events)
    assert all(e.account_id == "" and e.post_id is None for e in events)  # runs have no owner yet
    for run, steps in ((ok, {"split", "square", "total"}), (failed, {"first", "broken"})):
        mine = [e for e in events if e.data["workflow_id"] == run.id]
        finished = [e for e in mine if e.type == RunEventType.STEP_FINISHED]
        assert sorted(str(e.data["step"]) for e in finished) == sorted(steps)  # "after" was skipped: never ran
        for e in finished:
            step = run.steps[str(e.data["step"])]
            assert step.started_at is not None and step.ended_at is not None
            assert e.occurred_at == step.ended_at
            assert e.data == {
                "workflow_id": run.id,
                "workflow": run.name,
                "priority": run.priority,
                "state": step.state,
                "step": step.name,
                "duration_ms": round((step.ended_at - step.started_at) * 1000),
            }
        [end] = [e for e in mine if e.type == RunEventType.WORKFLOW_FINISHED]
        assert run.ended_at is not None and end.occurred_at == run.ended_at
        assert end.data == {
            "workflow_id": run.id,
            "workflow": run.name,
            "priority": run.priority,
            "state": run.state,
            "duration_ms": round((run.ended_at - run.created_at) * 1000),
            "lateness_ms": round((run.ended_at - run.deadline) * 1000),
        }
    assert {e.data["state"] for e in events if e.data["workflow_id"] == failed.id} == {"succeeded", "failed"}
    assert failed.priority == "batch"


def _events(n: int) -> list[RunEvent]:
    run = RunRow("wf_1", "squares", "succeeded", {}, "standard", 2.0, 1.0, 1.0)
    props: dict[str, str | int] = {"workflow_id": run.id, "workflow": run.name, "priority": run.priority}
    return [
        RunEvent(RunEventType.STEP_FINISHED, 1.5 + i, {**props, "step": f"s{i}", "duration_ms": i}) for i in range(n)
    ]


def test_a_relay_that_died_before_marking_publishes_each_event_once(
    redis_client: redis.Redis, db_engine: sa.Engine
) -> None:
    db = db_engine  # SQLite (the cursor's executemany) and PostgreSQL (social.events.record)
    written = _events(3)
    with db.begin() as conn:  # as a pass does: in the transaction that ends the steps
        OutboxRunEvents().record(conn, written)
    dying = Relay(db, redis_client)
    assert dying.acquire()
    dying.publish(dying.read(10))  # published, then the process died: the rows are not marked
    redis_client.delete(keys.RELAY_LEASE)  # its lease expired
    relay_all(Relay(db, redis_client))  # the restarted relay publishes the same rows again
    published = stream(redis_client)
    assert [e.event_id for e in published] == [e.event_id for e in written]
    assert [(e.type, e.occurred_at, e.data) for e in published] == [
        (w.type, w.occurred_at, w.properties) for w in written
    ]
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar_one() == 0


def test_a_rolled_back_pass_leaves_no_event(redis_client: redis.Redis, db_engine: sa.Engine) -> None:
    db = db_engine
    with pytest.raises(RuntimeError), db.begin() as conn:
        OutboxRunEvents().record(conn, _events(2))
        raise RuntimeError("the pass failed after recording")
    relay_all(Relay(db, redis_client))
    assert stream(redis_client) == []


def test_the_sink_is_chosen_by_the_settings() -> None:
    assert isinstance(run_event_sink("outbox"), OutboxRunEvents)
    assert run_event_sink("none") is None
    with pytest.raises(ConfigError, match="'kafka'"):
        run_event_sink("kafka")
    with pytest.raises(ConfigError, match="DARKROOM_RUN_EVENTS='kafka'"):
        Settings.from_env({"DARKROOM_RUN_EVENTS": "kafka"})
    assert Settings.from_env({}).run_events == "outbox"
