"""The feed consumer: keeps home feeds and authors' recent posts in step with the events.

- ``post.ready``: the post goes into its author's recent posts (always), the author's own feed and,
  unless the author is a celebrity (more followers than ``FeedConfig.celebrity_followers``; their
  posts are pulled at read time), every active follower's feed: followers are read from SQL in
  keyset pages and pushed in Lua batches; a feed that does not exist (an inactive follower) is
  skipped inside the script.
- ``post.deleted``: out of every set it was pushed to.
- ``account.followed``: the followee's recent posts into the follower's feed (if it exists); a
  celebrity into the follower's pulled set instead (feed/pulled.py).
- ``account.unfollowed``: the followee's posts out of the follower's feed and pulled set;
  ``account.blocked``: each account's posts and name out of the other's.
- Hybrid only: a celebrity's first ``post.ready`` since it crossed the threshold adds it to its
  active followers' pulled sets (feed/pulled.py).

Every step is idempotent (a replayed push adds a member already there; a removal of a missing one is
a no-op) and reads the current SQL state, so after a crash the same batch can simply run again.
Events carry ``data["followee_id"]`` (follows) and ``data["blocked_id"]`` (blocks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from darkroom.social.events import Event, EventType
from darkroom.social.feed import pulled, sources
from darkroom.social.feed.config import FeedConfig, FeedDesign
from darkroom.social.feed.store import FeedStore, RedisClient

if TYPE_CHECKING:
    from darkroom.social.metrics import FanoutMetrics

__all__ = ["FanoutHandler", "FanoutObserver"]

_log = logging.getLogger(__name__)


class FanoutObserver(Protocol):
    """Told after each batch of feeds a post was pushed to (benchmarks time it; the crash test
    stops the process there)."""

    def pushed(self, post_id: str, feeds: int) -> None: ...


class FanoutHandler:
    """The ``feed`` consumer of the events stream (an :class:`darkroom.social.events.Handler`)."""

    name = "feed"

    def __init__(
        self,
        engine: sa.Engine,
        redis: RedisClient,
        *,
        config: FeedConfig | None = None,
        design: FeedDesign = FeedDesign.HYBRID,
        observer: FanoutObserver | None = None,
        metrics: FanoutMetrics | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or FeedConfig()
        self.design = design
        self.redis = redis
        self.store = FeedStore(redis, config=self.config)
        self.observer = observer
        self.metrics = metrics
        self._actions: dict[EventType, Callable[[sa.Connection, Event], None]] = {
            EventType.POST_READY: self._post_ready,
            EventType.POST_DELETED: self._post_deleted,
            EventType.ACCOUNT_FOLLOWED: self._followed,
            EventType.ACCOUNT_UNFOLLOWED: self._unfollowed,
            EventType.ACCOUNT_BLOCKED: self._blocked,
        }

    def handle(self, batch: Sequence[Event]) -> None:
        for event in batch:
            action = self._actions.get(event.type)
            if action is None:
                continue
            # a short read-only transaction per event: SQL is only read here
            with self.engine.connect() as conn:
                action(conn, event)

    # -- posts -------------------------------------------------------------------------------------
    @property
    def _pushes(self) -> bool:
        """Whether this design pushes at all (``PULL`` and ``SQL`` read everything at read time)."""
        return self.design not in (FeedDesign.PULL, FeedDesign.SQL)

    def _pushes_to_followers(self, facts: sources.PostFacts) -> bool:
        if not self._pushes:
            return False
        return self.design is FeedDesign.PUSH or facts.author_followers <= self.config.celebrity_followers

    def _post_ready(self, conn: sa.Connection, event: Event) -> None:
        post_id = event.post_id
        facts = sources.post_facts(conn, post_id) if post_id else None
        if post_id is None or facts is None or not facts.showable:
            return  # deleted (or never ready) by the time we got here: nothing to show
        self.store.record(facts.author_id, post_id)
        if not self._pushes:
            return
        started = time.perf_counter()
        feeds = self.store.push(post_id, [facts.author_id])
        if self.design is FeedDesign.HYBRID:
            self._tell_pullers(conn, facts)
        if self._pushes_to_followers(facts):
            for page in sources.active_followers(conn, facts.author_id, page=self.config.follower_page):
                for start in range(0, len(page), self.config.batch_keys):
                    batch = page[start : start + self.config.batch_keys]
                    held = self.store.push(post_id, batch)
                    feeds += held
                    if self.observer is not None:
                        self.observer.pushed(post_id, held)
        if self.metrics is not None:
            self.metrics.fanned_out(feeds, time.perf_counter() - started)

    def _tell_pullers(self, conn: sa.Connection, facts: sources.PostFacts) -> None:
        """A celebrity's first post since it crossed the threshold: into every active follower's
        pulled set that exists (feed/pulled.py), as a push would add the post to their feeds."""
        celebrity = facts.author_followers > self.config.celebrity_followers
        if not pulled.untold(self.redis, facts.author_id, celebrity=celebrity):
            return
        for page in sources.active_followers(conn, facts.author_id, page=self.config.follower_page):
            for start in range(0, len(page), self.config.batch_keys):
                pulled.add(self.redis, page[start : start + self.config.batch_keys], facts.author_id)
        pulled.told(self.redis, facts.author_id)

    def _post_deleted(self, conn: sa.Connection, event: Event) -> None:
        post_id = event.post_id
        if post_id is None:
            return
        facts = sources.post_facts(conn, post_id)
        author = facts.author_id if facts else event.account_id
        self.store.forget(author, post_id)
        self.store.unpush(post_id, [author])
        # a celebrity's post was never pushed (and the read filter hides a deleted post anyway, should
        # the author have crossed the threshold since)
        if facts is None or not self._pushes_to_followers(facts):
            return
        for page in sources.active_followers(conn, author, page=self.config.follower_page):
            self.store.unpush(post_id, page)

    # -- the graph ---------------------------------------------------------------------------------
    def _followed(self, conn: sa.Connection, event: Event) -> None:
        followee = _other(event, "followee_id")
        if followee is None or not self._pushes:
            return
        # a follow undone since (or still a request) brings nothing
        if not sources.is_following(conn, event.account_id, followee):
            return
        followers = sources.follower_count(conn, followee)
        if self.design is FeedDesign.HYBRID and followers > self.config.celebrity_followers:
            pulled.add(self.redis, [event.account_id], followee)  # pulled at read time
            return
        recent = sources.recent_posts(conn, followee, limit=self.config.feed_cap)
        self.store.add(event.account_id, recent)

    def _unfollowed(self, conn: sa.Connection, event: Event) -> None:
        followee = _other(event, "followee_id")
        if followee is None:
            return
        if sources.is_following(conn, event.account_id, followee):
            return  # followed again since: the later account.followed keeps the feed right
        pulled.remove(self.redis, event.account_id, followee)
        self._remove_author(conn, owner=event.account_id, author=followee)

    def _blocked(self, conn: sa.Connection, event: Event) -> None:
        blocked = _other(event, "blocked_id")
        if blocked is None:
            return
        pulled.remove(self.redis, event.account_id, blocked)
        pulled.remove(self.redis, blocked, event.account_id)
        self._remove_author(conn, owner=event.account_id, author=blocked)
        self._remove_author(conn, owner=blocked, author=event.account_id)

    def _remove_author(self, conn: sa.Connection, *, owner: str, author: str) -> None:
        # the feed holds nothing older than its oldest entry: only the author's posts since then
        # can be in it, whatever their state now
        oldest = self.store.oldest(owner)
        if oldest is None:
            return
        self.store.remove(owner, sources.author_posts_since(conn, author, oldest))


def _other(event: Event, field: str) -> str | None:
    value = event.data.get(field)
    if isinstance(value, str) and value:
        return value
    _log.warning("%s event %s has no %s: skipped", event.type, event.event_id, field)
    return None
