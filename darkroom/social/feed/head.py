"""The head of a home feed: how many posts arrived above the one a reader's page starts with.

A page polls this while it is open ("3 new posts"), so it costs one Redis command and no SQL: a
``ZLEXCOUNT`` of the pushed feed above ``since`` (post ids are ULIDs, so lex order is time order).
It counts what was pushed, not what the reader may see: a post deleted or hidden since it was
pushed is counted until the reader loads the new posts, and a celebrity's post (pulled at read
time in the hybrid design, docs/social.md) is not counted, though loading the new posts shows it.
"""

from __future__ import annotations

from darkroom.social import keys
from darkroom.social.feed.store import RedisClient
from darkroom.social.ids import check_id

__all__ = ["count_newer"]


def count_newer(redis: RedisClient, viewer_id: str, since: str | None) -> int:
    """How many posts ``viewer_id``'s pushed feed holds newer than post ``since`` (None: all of
    them, for a page that showed none; a feed holds at most ``feed_cap``). A missing feed counts 0."""
    check_id(viewer_id, field="viewer_id")
    low = "-" if since is None else f"({check_id(since, field='since')}"
    # the marker ``~`` sorts after every id: the range stops below it
    return int(redis.zlexcount(keys.feed(viewer_id), low, f"({keys.FEED_BUILT}"))
