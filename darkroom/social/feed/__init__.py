"""The home feed (docs/social.md, "The home feed"): hybrid fan-out. Posts are pushed into active
followers' feeds in Redis when they become ready (:mod:`.fanout`), except celebrities' posts, which
are pulled at read time and merged (:mod:`.reader`); the Redis writes are Lua scripts
(:mod:`.store`); pages are ordered by a scorer (:mod:`.ranking`) behind opaque cursors
(:mod:`.cursors`); which celebrities a viewer pulls is kept in Redis (:mod:`.pulled`); SQL reads
are in :mod:`.sources`."""

from darkroom.social.feed.config import FeedConfig, FeedDesign
from darkroom.social.feed.fanout import FanoutHandler, FanoutObserver
from darkroom.social.feed.head import count_newer
from darkroom.social.feed.ranking import Candidate, Origin, ReverseChronological, Scorer
from darkroom.social.feed.reader import MAX_LIMIT, FeedPage, read_feed, sql_feed
from darkroom.social.feed.store import FeedStore

__all__ = [
    "MAX_LIMIT",
    "Candidate",
    "FanoutHandler",
    "FanoutObserver",
    "FeedConfig",
    "FeedDesign",
    "FeedPage",
    "FeedStore",
    "Origin",
    "ReverseChronological",
    "Scorer",
    "count_newer",
    "read_feed",
    "sql_feed",
]
