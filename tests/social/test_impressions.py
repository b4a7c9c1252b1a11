"""post.viewed impressions: straight to the events stream, gathered off the request path."""

from __future__ import annotations

import pytest
import redis

from darkroom.social.events import ENTRY_FIELDS, STREAM, Event, EventType
from darkroom.social.ids import check_id, new_id
from darkroom.social.impressions import ImpressionBuffer, Surface, publish_views
from darkroom.social.viewer import Scope, Viewer

VIEWER = Viewer(new_id(), "alice", frozenset(Scope))


def _views(client: redis.Redis) -> list[dict[str, str]]:
    entries = client.xrange(STREAM)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


def test_publish_views_is_one_event_per_post_in_page_order(redis_client: redis.Redis) -> None:
    posts = [new_id() for _ in range(3)]
    ids = publish_views(redis_client, VIEWER, posts, Surface.FEED)
    views = _views(redis_client)
    assert [v["event_id"] for v in views] == ids and [v["post_id"] for v in views] == posts
    assert {v["type"] for v in views} == {EventType.POST_VIEWED.value} and {v["account_id"] for v in views} == {
        VIEWER.account_id
    }


def test_the_buffer_publishes_what_it_gathered_in_order_once(redis_client: redis.Redis) -> None:
    buffer = ImpressionBuffer(redis_client, flush_every_s=3600)  # only explicit flushes in this test
    first, second = [new_id() for _ in range(2)], [new_id() for _ in range(3)]
    buffer.add(VIEWER, first, Surface.FEED)
    buffer.add(None, second, Surface.TAG)
    buffer.add(VIEWER, [], Surface.POST)  # nothing shown: nothing kept
    assert _views(redis_client) == []  # nothing on the request path
    assert buffer.flush() == 5 and buffer.flush() == 0
    views = _views(redis_client)
    assert [v["post_id"] for v in views] == first + second
    assert [v["account_id"] for v in views] == [VIEWER.account_id] * 2 + [""] * 3
    buffer.close()


def test_close_publishes_what_is_left_and_a_later_view_starts_again(redis_client: redis.Redis) -> None:
    buffer = ImpressionBuffer(redis_client, flush_every_s=3600)
    buffer.add(VIEWER, [new_id()], Surface.POST)
    buffer.close()
    assert len(_views(redis_client)) == 1
    buffer.close()  # twice: nothing left, nothing to stop
    buffer.add(VIEWER, [new_id()], Surface.POST)  # an app started again (tests do) keeps its buffer
    buffer.close()
    assert len(_views(redis_client)) == 2


def test_a_full_buffer_drops_new_views_and_counts_them(redis_client: redis.Redis) -> None:
    buffer = ImpressionBuffer(redis_client, flush_every_s=3600, max_pending=4)
    buffer.add(VIEWER, [new_id() for _ in range(3)], Surface.FEED)
    buffer.add(VIEWER, [new_id() for _ in range(3)], Surface.FEED)  # one fits
    assert buffer.dropped == 2 and buffer.flush() == 4
    buffer.close()


def test_a_failed_publish_loses_its_views_and_says_so(redis_client: redis.Redis) -> None:
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nothing listens there
    buffer = ImpressionBuffer(gone, flush_every_s=3600)
    buffer.add(VIEWER, [new_id(), new_id()], Surface.FEED)
    assert buffer.flush() == 0 and buffer.dropped == 2  # at most once: nobody retries
    buffer.close()


def test_an_entry_is_the_relays_shape_field_for_field_in_order(redis_client: redis.Redis) -> None:
    ids = publish_views(redis_client, VIEWER, [new_id(), new_id()], Surface.FEED)
    (_, fields), (_, second) = redis_client.xrange(STREAM)
    # the analytics ingest reads the relay's entries by position (analytics/rows.py)
    assert [k.decode() for k in fields] == list(ENTRY_FIELDS)
    event = Event.from_fields({k.decode(): v.decode() for k, v in fields.items()})
    assert event.event_id == ids[0] and event.data == {"surface": "feed", "position": 0}
    assert Event.from_fields({k.decode(): v.decode() for k, v in second.items()}).data["position"] == 1
    assert [check_id(i) for i in ids] == ids and ids[0] < ids[1]


def test_more_views_than_a_call_holds_are_published_in_chunks_in_order(redis_client: redis.Redis) -> None:
    buffer = ImpressionBuffer(redis_client, flush_every_s=3600)
    posts = [new_id() for _ in range(2500)]  # two full script calls of 1,000 and a part
    buffer.add(VIEWER, posts, Surface.PROFILE)
    assert buffer.flush() == 2500
    assert [v["post_id"] for v in _views(redis_client)] == posts
    buffer.close()


def test_flush_every_s_must_be_positive(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="flush_every_s 0"):
        ImpressionBuffer(redis_client, flush_every_s=0)
