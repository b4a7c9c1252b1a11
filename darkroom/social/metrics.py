"""Prometheus metrics of the events pipeline: the outbox relay and the consumer groups (each process
registers them on its own registry, as :mod:`darkroom.runtime.metrics` does)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from darkroom.social.outbox import Backlog

__all__ = ["ConsumerMetrics", "FanoutMetrics", "FeedMetrics", "OutboxBacklogCollector", "RelayMetrics"]

log = logging.getLogger(__name__)

_BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# a feed page is a pipelined Redis read and one SQL statement: sub-millisecond to tens of ms
_READ_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
# feeds one post was pushed to: the author alone up to the celebrity threshold (10,000 by default)
_FANOUT_BUCKETS = (0, 1, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000)


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Counter(
            "darkroom_social_outbox_rows",
            "Outbox rows the relay settled, by outcome: published (a new stream entry), seen (its "
            "publish-once marker was set: published by a round that died before marking), dead_lettered "
            "(not an event)",
            ["outcome"],
            registry=registry,
        )
        self.leases = Counter("darkroom_social_relay_leases", "Relay leases this process took", registry=registry)
        self.leases_lost = Counter(
            "darkroom_social_relay_leases_lost",
            "Publishes refused because another relay had taken the lease",
            registry=registry,
        )
        self.trimmed = Counter("darkroom_social_events_trimmed", "Stream entries trimmed by age", registry=registry)
        self.purged = Counter(
            "darkroom_social_outbox_purged", "Published outbox rows deleted after retention", registry=registry
        )

    def published(self, added: int, seen: int, dead_lettered: int) -> None:
        for outcome, n in (("published", added), ("seen", seen), ("dead_lettered", dead_lettered)):
            if n:
                self.rows.labels(outcome).inc(n)


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.entries = Counter(
            "darkroom_social_events_consumed",
            "Stream entries a consumer group settled or failed, by outcome: handled (acknowledged after "
            "the handler returned), dead_lettered (poison or garbled; acknowledged), failed (the handler "
            "raised; left pending for a retry)",
            ["group", "outcome"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "darkroom_social_events_batch_seconds",
            "Time a handler spent on one batch",
            ["group"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "darkroom_social_events_group_lag",
            "Stream entries not yet delivered to the group (XINFO GROUPS lag)",
            ["group"],
            registry=registry,
        )
        self.pending = Gauge(
            "darkroom_social_events_group_pending",
            "Entries delivered to the group and not acknowledged yet",
            ["group"],
            registry=registry,
        )

    def settled(self, group: str, outcome: str, n: int) -> None:
        if n:
            self.entries.labels(group, outcome).inc(n)

    def group_state(self, group: str, lag: int, pending: int) -> None:
        self.lag.labels(group).set(lag)
        self.pending.labels(group).set(pending)


class FeedMetrics:
    """The home feed's reads, by design (hybrid, push, pull, sql)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.read_seconds = Histogram(
            "darkroom_feed_read_seconds",
            "Time to read one page of a home feed (candidates, merge, visibility), by design",
            ["design"],
            buckets=_READ_BUCKETS,
            registry=registry,
        )

    def read(self, design: str, seconds: float) -> None:
        self.read_seconds.labels(design).observe(seconds)


class FanoutMetrics:
    """Implements :class:`~darkroom.social.feed.FanoutObserver`'s ``fanned_out``: one observation
    per post pushed, of the feeds it reached."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.followers = Histogram(
            "darkroom_fanout_followers",
            "Feeds one ready post was pushed to (its author's included; 1 for a pulled celebrity)",
            buckets=_FANOUT_BUCKETS,
            registry=registry,
        )
        self.seconds = Histogram(
            "darkroom_fanout_seconds",
            "Time to push one ready post to every feed it reaches",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )

    def fanned_out(self, feeds: int, seconds: float) -> None:
        self.followers.observe(feeds)
        self.seconds.observe(seconds)


class OutboxBacklogCollector(Collector):
    """``darkroom_outbox_pending`` and ``darkroom_outbox_oldest_pending_age_seconds``: the outbox
    rows not relayed yet, read at scrape time (``read``: two indexed queries), so a relay that stopped
    altogether still shows its backlog growing. Absent while the database cannot be read."""

    def __init__(self, read: Callable[[], Backlog]) -> None:
        self.read = read

    def describe(self) -> Iterable[Metric]:
        return ()  # registering must not touch the database

    def collect(self) -> Iterator[Metric]:
        try:
            backlog = self.read()
        except (sa.exc.SQLAlchemyError, OSError) as exc:  # the scrape still answers: logged, left out
            log.warning("could not read the outbox backlog: %s", exc)
            return
        pending = GaugeMetricFamily("darkroom_outbox_pending", "Outbox rows written and not yet relayed to the stream.")
        pending.add_metric([], backlog.pending)
        age = GaugeMetricFamily(
            "darkroom_outbox_oldest_pending_age_seconds",
            "How long the oldest outbox row not yet relayed has waited (0 when none waits).",
        )
        age.add_metric([], backlog.oldest_age_s)
        yield pending
        yield age
