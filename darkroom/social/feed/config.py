"""What the home feed is made of: the design (push, pull or both) and its tunable numbers."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum

from darkroom.config import ConfigError, Settings

__all__ = ["MAX_KEYS_PER_CALL", "MAX_POSTS_PER_CALL", "FeedConfig", "FeedDesign"]

# The largest call each feed script accepts (it refuses more before writing anything). A call holds
# Redis while it runs (a push: ~3-6 us per feed of up to 128 entries, ~12-25 us per full feed), so
# fan-outs use far smaller batches (``FeedConfig.batch_keys``); this bounds what a caller may ask.
MAX_KEYS_PER_CALL = 10_000
MAX_POSTS_PER_CALL = 10_000


class FeedDesign(StrEnum):
    """How posts reach a home feed. ``HYBRID`` is the product; the others exist to be measured
    beside it (``make bench-social``)."""

    HYBRID = "hybrid"  # pushed to followers' feeds, except celebrities' posts, pulled at read time
    PUSH = "push"  # everything pushed, whatever the follower count
    PULL = "pull"  # nothing pushed: followees' recent posts merged at read time
    SQL = "sql"  # nothing pushed, no Redis read: the plain SQL join (``reader.sql_feed``)

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedDesign:
        """``DARKROOM_FEED_DESIGN`` (``hybrid``, the default; ``push``, ``pull``, ``sql``): how the
        HTTP app reads feeds. The benchmark's switch: the fan-out consumer pushes as ``HYBRID``
        whatever this says, so another design reads feeds built for it only in ``make bench-social``."""
        raw = settings.feed_design.strip().lower()
        try:
            return cls(raw)
        except ValueError:
            names = ", ".join(d.value for d in cls)
            raise ConfigError(f"DARKROOM_FEED_DESIGN={settings.feed_design!r} must be one of {names}") from None


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """The feed's numbers. ``celebrity_followers``: an author with more followers than this is
    pulled, not pushed (``HYBRID`` only). ``active_window_s``: a feed lives this long after its
    owner's last read (feeds are kept for active accounts only). ``feed_cap`` and
    ``author_posts_cap``: entries kept per feed and per author's recent posts. ``batch_keys``:
    feeds per Lua call (measured in docs/benchmarks.md, "Social feed"). ``follower_page``: follower
    ids read from SQL at a time (keyset pages, never the whole list)."""

    celebrity_followers: int = 10_000
    active_window_s: int = 30 * 86400
    feed_cap: int = 800
    author_posts_cap: int = 800
    batch_keys: int = 500
    follower_page: int = 5000
    seen_every_s: int = 3600  # accounts.last_seen_at is written at most this often

    def __post_init__(self) -> None:
        for name in (f.name for f in fields(self)):
            if getattr(self, name) < 1:
                raise ConfigError(f"feed {name} must be at least 1, not {getattr(self, name)!r}")
        if self.batch_keys > MAX_KEYS_PER_CALL:
            raise ConfigError(f"feed batch_keys {self.batch_keys} is above the scripts' {MAX_KEYS_PER_CALL}")

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedConfig:
        """The defaults with ``DARKROOM_FEED_CELEBRITY_FOLLOWERS`` and ``DARKROOM_FEED_ACTIVE_DAYS``."""
        return cls(
            celebrity_followers=settings.feed_celebrity_followers, active_window_s=settings.feed_active_days * 86400
        )
