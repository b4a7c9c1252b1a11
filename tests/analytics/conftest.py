"""Fixtures of the analytics tests: a real SQL catalog (SQLite) and warehouse under ``tmp_path``,
and helpers that publish events to the real Redis stream as the outbox relay does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from pyiceberg.catalog.sql import SqlCatalog

from darkroom.analytics import catalog_location, open_catalog
from darkroom.config import Settings
from darkroom.social import keys
from darkroom.social.events import Event, EventType
from darkroom.social.ids import new_id


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def catalog(settings: Settings) -> SqlCatalog:
    return open_catalog(catalog_location(settings))


def make_event(kind: EventType = EventType.POST_VIEWED, **overrides: object) -> Event:
    """An event of ``kind``, with a post when its type needs one."""
    post = new_id() if kind.startswith(("post.", "comment.")) else None
    values: dict[str, object] = {"type": kind, "account_id": new_id(), "post_id": post, "data": {"n": 1}}
    values.update(overrides)
    return Event(**values)  # type: ignore[arg-type]


def encoded(fields: dict[str, str]) -> dict[bytes, bytes]:
    """Fields as Redis answers them."""
    return {k.encode(): v.encode() for k, v in fields.items()}


Publish = Callable[..., list[str]]


@pytest.fixture
def publish(redis_client: redis.Redis) -> Publish:
    """``publish(*events_or_field_dicts)``: XADD each to the events stream, as the relay does;
    answers the entry ids."""

    def add(*items: Event | dict[str, str]) -> list[str]:
        pipe = redis_client.pipeline(transaction=False)
        for item in items:
            fields = item.to_fields() if isinstance(item, Event) else item
            pipe.xadd(keys.EVENTS, fields)  # type: ignore[arg-type]
        return [i.decode() for i in pipe.execute()]

    return add
