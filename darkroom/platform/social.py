"""The social product's background process, built from a :class:`~darkroom.platform.wiring.Wiring`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from darkroom.platform.wiring import Wiring
from darkroom.social.counters import CountersHandler
from darkroom.social.events import Handler
from darkroom.social.feed import FeedConfig
from darkroom.social.feed.fanout import FanoutHandler
from darkroom.social.metrics import FanoutMetrics
from darkroom.social.runner import RunnerConfig, SocialRunner

__all__ = ["social_handlers", "social_runner"]


def social_handlers(wiring: Wiring, registry: CollectorRegistry | None = None) -> list[Handler]:
    """Every consumer of the events stream this platform runs (``registry``: the fan-out's metrics)."""
    return [
        FanoutHandler(
            wiring.db,
            wiring.redis,
            config=FeedConfig.from_settings(wiring.settings),
            metrics=FanoutMetrics(registry) if registry is not None else None,
        ),
        CountersHandler(wiring.db, wiring.redis),
    ]


def social_runner(wiring: Wiring, registry: CollectorRegistry | None = None) -> SocialRunner:
    """The runner of this host: it sweeps expired uploads of the spool under the home, where this
    host's HTTP app keeps them (``WebDeps.spool_dir``); its metrics go to ``registry``."""
    settings = wiring.settings
    return SocialRunner(
        wiring.db,
        wiring.redis,
        wiring.workflows,
        wiring.blobs,
        social_handlers(wiring, registry),
        config=RunnerConfig(upload_lifetime_s=settings.resumable_lifetime_s),
        spool_dir=settings.home / "uploads",
        registry=registry,
    )
