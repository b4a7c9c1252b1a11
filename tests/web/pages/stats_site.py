"""The analytics tables the stats pages read, made as the platform makes them: events in the
relay's format on the real Redis stream, the real ingest into a real SQLite catalog under the
site's home, and the real jobs run in this process (``analytics.jobs.run``)."""

from __future__ import annotations

import datetime as dt

import orjson
import redis

from darkroom.analytics import BatchLimits, Ingester, catalog_location, open_catalog
from darkroom.analytics.jobs import JOBS, run
from darkroom.social import keys
from darkroom.social.events import Event, EventType
from darkroom.social.ids import new_id
from tests.web.pages.site import Site

_LIMITS = BatchLimits(max_batch_events=1000, max_batch_s=0.05, block_ms=1)


def at(day: dt.date, hour: int = 12) -> float:
    """Epoch seconds of ``hour`` o'clock UTC on ``day``."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC).timestamp()


def post_events(post_id: str, day: dt.date, *, views: list[str], likes: list[str], comments: list[str]) -> list[Event]:
    """``views`` (an account id per ``post.viewed``), likes and comments of ``post_id`` on ``day``."""
    when = at(day)
    made = [Event(EventType.POST_VIEWED, who, post_id, {"surface": "feed"}, occurred_at=when) for who in views]
    made += [Event(EventType.POST_LIKED, who, post_id, occurred_at=when) for who in likes]
    made += [
        Event(EventType.COMMENT_CREATED, who, post_id, {"comment_id": new_id(), "author_id": who}, occurred_at=when)
        for who in comments
    ]
    return made


def workflow_events(
    day: dt.date, workflow: str, priority: str, *, steps_ms: list[int], lateness_ms: list[int]
) -> list[dict[str, str]]:
    """``step.finished`` of each duration and ``workflow.finished`` of each lateness, on ``day``, in
    the shape docs/analytics.md documents for them."""
    out = []
    for kind, values in (("step.finished", steps_ms), ("workflow.finished", lateness_ms)):
        for value in values:
            data: dict[str, object] = {"workflow_id": new_id(), "workflow": workflow, "priority": priority}
            data |= {"state": "succeeded", "duration_ms": value if kind == "step.finished" else 1000}
            data |= {"step": "encode"} if kind == "step.finished" else {"lateness_ms": value}
            out.append({
                "event_id": new_id(), "type": kind, "occurred_at": repr(at(day)), "account_id": "",
                "post_id": "", "data": orjson.dumps(data).decode(),
            })  # fmt: skip
    return out


def ingest_and_run(site: Site, events: list[Event | dict[str, str]]) -> None:
    """Publish ``events`` to the events stream, ingest them into ``darkroom.events`` and run every
    job (``post_daily_stats``, ``pipeline_sla``…) once."""
    client: redis.Redis = site.deps.redis
    pipe = client.pipeline(transaction=False)
    for event in events:
        pipe.xadd(keys.EVENTS, event.to_fields() if isinstance(event, Event) else event)  # type: ignore[arg-type]
    pipe.execute()
    catalog = open_catalog(catalog_location(site.deps.settings))
    ingester = Ingester(client, catalog, _LIMITS)
    try:
        while ingester.ingest_once().snapshot_id is not None:
            pass
    finally:
        ingester.close()
    for job in JOBS:
        run(job, catalog)
