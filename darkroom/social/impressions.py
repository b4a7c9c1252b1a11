"""``post.viewed``: an impression each time a feed page, a list or a post shows a post.

Impressions are analytics, so they do not take the outbox's path (events.record in the reader's
transaction, then the relay). That path would make every read a write: on SQLite every GET would
queue for the database's one write lock behind every other reader and writer, and the feed's
reads would run at the speed of its writes. They are published straight to the events stream
instead, one pipeline of ``XADD`` per page (one round trip, however many posts it shows), in the
same entry shape the relay writes (:meth:`Event.to_fields`), so consumers read them like any
other event. The cost is the outbox's guarantees: an impression is published at most once (a
Redis failure loses it; nobody retries), and one is not tied to a transaction's outcome.
Counting views tolerates both; nothing that must not be lost goes this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import redis as redis_lib
from redis.typing import EncodableT, FieldT

from darkroom.social.events import STREAM, Event, EventType
from darkroom.social.viewer import Viewer

__all__ = ["Surface", "publish_views"]


class Surface(StrEnum):
    """Where the posts were shown (``data.surface`` of the event)."""

    FEED = "feed"
    POST = "post"
    PROFILE = "profile"
    TAG = "tag"


def publish_views(
    redis: redis_lib.Redis,
    viewer: Viewer | None,
    post_ids: Sequence[str],
    surface: Surface,
) -> list[str]:
    """Publish one ``post.viewed`` per post in ``post_ids`` (``account_id`` the viewer, empty for
    an anonymous reader; ``data.surface``, ``data.position`` on the page) in one round trip; the
    events' ids."""
    if not post_ids:
        return []
    who = viewer.account_id if viewer is not None else ""
    events = [
        Event(EventType.POST_VIEWED, who, post_id, {"surface": str(surface), "position": i})
        for i, post_id in enumerate(post_ids)
    ]
    pipe = redis.pipeline(transaction=False)
    for event in events:
        fields: dict[FieldT, EncodableT] = {name: value for name, value in event.to_fields().items()}
        pipe.xadd(STREAM, fields)
    pipe.execute()
    return [e.event_id for e in events]
