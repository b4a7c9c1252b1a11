"""``post.viewed``: an impression each time a feed page, a list or a post shows a post.

Impressions are analytics, so they do not take the outbox's path (events.record in the reader's
transaction, then the relay). That path would make every read a write: on SQLite every GET would
queue for the database's one write lock behind every other reader and writer, and the feed's
reads would run at the speed of its writes. They are published straight to the events stream
instead, in the same entry shape the relay writes (:meth:`Event.to_fields`, fields in the same
order), so consumers read them like any other event: a batch in one script call of ``XADD``
after ``XADD`` (a pipeline of one ``XADD`` per view cost redis-py about four times the client
CPU). The cost is the outbox's guarantees: an impression is published at most once (a
Redis failure loses it; nobody retries), and one is not tied to a transaction's outcome.
Counting views tolerates both; nothing that must not be lost goes this way.

A server does not publish on the request path either: :class:`ImpressionBuffer` gathers the views of
every page it answers and a thread of its own publishes them every :data:`FLUSH_EVERY_S` in one
call, so a read pays for building its events (their ids made together) and nothing else (a round
trip and a hand-off to a worker thread per page cost it a tenth of its CPU). Views still buffered
when a server dies are lost (at most once, as above); a server stopping cleanly publishes them
first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from enum import StrEnum

import redis as redis_lib

from darkroom.social.events import ENTRY_FIELDS, STREAM, Event, EventType
from darkroom.social.ids import new_ids
from darkroom.social.viewer import Viewer

__all__ = ["FLUSH_EVERY_S", "MAX_PENDING", "ImpressionBuffer", "Surface", "publish_views", "view_events"]

FLUSH_EVERY_S = 0.1
MAX_PENDING = 100_000  # views kept while Redis does not answer; beyond, new ones are dropped
_CHUNK = 1000  # XADDs per script call

_N = len(ENTRY_FIELDS)
_XADDS = ", ".join(f"'{name}', ARGV[i + {k}]" for k, name in enumerate(ENTRY_FIELDS))
# KEYS[1] the events stream; ARGV: each event's entry values in a row, in ENTRY_FIELDS' order.
# Nothing in it can fail after the first XADD (Redis refuses a script for memory at its first
# write, not later), so a batch is published whole or not at all.
_PUBLISH = f"""
for i = 1, #ARGV, {_N} do
  redis.call('XADD', KEYS[1], '*', {_XADDS})
end
return #ARGV / {_N}
"""
_log = logging.getLogger(__name__)


class Surface(StrEnum):
    """Where the posts were shown (``data.surface`` of the event)."""

    FEED = "feed"
    POST = "post"
    PROFILE = "profile"
    TAG = "tag"


def view_events(viewer: Viewer | None, post_ids: Sequence[str], surface: Surface) -> list[Event]:
    """One ``post.viewed`` per post in ``post_ids`` (``account_id`` the viewer, empty for an
    anonymous reader; ``data.surface``, ``data.position`` on the page)."""
    who = viewer.account_id if viewer is not None else ""
    ids = new_ids(len(post_ids))
    return [
        Event(EventType.POST_VIEWED, who, post_id, {"surface": str(surface), "position": i}, event_id=ids[i])
        for i, post_id in enumerate(post_ids)
    ]


def publish_views(
    redis: redis_lib.Redis,
    viewer: Viewer | None,
    post_ids: Sequence[str],
    surface: Surface,
) -> list[str]:
    """Publish :func:`view_events` of ``post_ids`` now, in one round trip; the events' ids."""
    events = view_events(viewer, post_ids, surface)
    _publish(redis, events)
    return [e.event_id for e in events]


def _publish(redis: redis_lib.Redis, events: Sequence[Event]) -> None:
    script = redis.register_script(_PUBLISH)  # a Script object: its SHA, no round trip
    for start in range(0, len(events), _CHUNK):
        script(keys=[STREAM], args=[v for event in events[start : start + _CHUNK] for v in event.to_values()])


class ImpressionBuffer:
    """Views gathered from the pages a server answers, published by a thread of its own every
    ``flush_every_s`` (started at the first view), or now by :meth:`flush`; :meth:`close` stops the
    thread and publishes what is left (an app started again, as tests do, starts it again at its
    next view). Thread-safe."""

    def __init__(
        self, redis: redis_lib.Redis, *, flush_every_s: float = FLUSH_EVERY_S, max_pending: int = MAX_PENDING
    ) -> None:
        if not flush_every_s > 0:
            raise ValueError(f"flush_every_s {flush_every_s!r} must be > 0")
        self.redis, self.flush_every_s, self.max_pending = redis, flush_every_s, max_pending
        self.dropped = 0  # views lost: over max_pending, or a publish that failed
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._publishing = threading.Lock()  # one flush at a time keeps the stream in view order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, viewer: Viewer | None, post_ids: Sequence[str], surface: Surface) -> None:
        """Keep one ``post.viewed`` per post shown, to publish soon."""
        if not post_ids:
            return
        events = view_events(viewer, post_ids, surface)
        with self._lock:
            room = self.max_pending - len(self._pending)
            self._pending += events[: max(room, 0)]
            self.dropped += max(len(events) - max(room, 0), 0)
            if self._thread is None:
                self._stop = threading.Event()  # the thread's own: close() sets it and forgets the thread
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="impressions", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Publish every view kept so far; how many were published (0 when the publish failed:
        they are dropped, and logged)."""
        with self._publishing:
            with self._lock:
                events, self._pending = self._pending, []
            if not events:
                return 0
            try:
                _publish(self.redis, events)
            except redis_lib.RedisError as exc:
                self.dropped += len(events)
                _log.warning("%d impressions lost: publishing them failed: %s", len(events), exc)
                return 0
            return len(events)

    def close(self) -> None:
        """Stop the thread, then publish what is left."""
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self.flush()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.flush_every_s):
            self.flush()
