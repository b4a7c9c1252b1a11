"""A counters consumer in its own process, for the crash tests: it handles batches until it is killed.

``python -m tests.social.consumer_proc REDIS_URL DATABASE_URL CONSUMER_NAME CRASH_POINT BATCH``.
With ``CRASH_POINT`` ``before`` (nothing written yet) or ``after`` (the counters committed, the
batch not acknowledged), the first batch stops there: the process pushes the batch's event ids to
``SIGNAL`` and waits to be killed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

import redis

from darkroom.social.consumers import Consumer
from darkroom.social.counters import CountersHandler
from darkroom.social.events import Event
from darkroom.storage.db import open_database

SIGNAL = "test:consumer:handling"
HANDLED = "test:consumer:handled"


class Recording:
    """CountersHandler, recording every event it handled (an entry per handling) in ``HANDLED``."""

    name = "counters"

    def __init__(self, inner: CountersHandler, client: redis.Redis, crash_point: str = "none") -> None:
        self.inner = inner
        self.redis = client
        self.crash_point = crash_point

    def handle(self, batch: Sequence[Event]) -> None:
        if self.crash_point == "before":
            self._wait_for_the_kill(batch)
        self.inner.handle(batch)
        if self.crash_point == "after":
            self._wait_for_the_kill(batch)
        self.redis.rpush(HANDLED, *[e.event_id for e in batch])

    def _wait_for_the_kill(self, batch: Sequence[Event]) -> None:
        self.redis.rpush(SIGNAL, *[e.event_id for e in batch])
        threading.Event().wait()


def main() -> None:
    redis_url, database_url, name, crash_point, batch = sys.argv[1:6]
    client = redis.Redis.from_url(redis_url)
    engine = open_database(database_url)
    handler = Recording(CountersHandler(engine, client), client, crash_point)
    Consumer(client, handler, consumer_name=name, batch=int(batch), block_ms=100).run(threading.Event())


if __name__ == "__main__":
    main()
