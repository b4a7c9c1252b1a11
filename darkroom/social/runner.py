"""The social product's background work in one process (``darkroom social run``): the outbox relay,
one consumer per events handler (feed fan-out, counters…), and the processing loop that settles
uploads and posts when their workflows end, purges deleted media and sweeps expired resumable
uploads (their rows, and the spool files under ``spool_dir``: this host's).

Each part is a thread with its own loop, so a slow one (a big fan-out) does not hold the others
back; all stop when ``stop`` is set. Several runners may run at once, on any hosts: the relay holds
a lease, consumers share their groups, and the processing loop's writes are idempotent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from darkroom.runtime.workflow import Workflows
from darkroom.social.consumers import Consumer
from darkroom.social.events import Handler
from darkroom.social.expiry import Swept, sweep_expired
from darkroom.social.metrics import ConsumerMetrics, OutboxBacklogCollector, RelayMetrics
from darkroom.social.outbox import Backlog, read_backlog
from darkroom.social.posts import advance_processing, purge_deleted
from darkroom.social.processing import AfterCommit
from darkroom.social.relay import Relay
from darkroom.storage.blobs.base import BlobStore
from darkroom.storage.db import read_only

__all__ = ["RunnerConfig", "SocialRunner"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    processing_poll_s: float = 0.2  # how often uploads in flight are checked (one indexed query)
    purge_every_s: float = 300.0
    purge_after_s: float = 3_600.0  # deleted posts' media are kept this long (an undo window)
    consumer_block_ms: int = 1_000
    sweep_every_s: float = 300.0  # how often expired resumable uploads are deleted
    upload_lifetime_s: float = 86_400.0  # DARKROOM_RESUMABLE_LIFETIME_S (social.expiry)


@dataclass
class SocialRunner:
    engine: sa.Engine
    redis: redis.Redis
    workflows: Workflows
    blobs: BlobStore
    handlers: Sequence[Handler]
    config: RunnerConfig = RunnerConfig()
    spool_dir: Path | None = None  # where this host's uploads wait for their chunks; None: no sweep
    # the relay's and the consumers' metrics go here (``darkroom social run``'s /metrics); None: none
    registry: CollectorRegistry | None = None

    def run(self, stop: threading.Event) -> None:
        """Run every part until ``stop`` is set, then wait for them to finish their round."""
        name = f"{socket.gethostname()}-{os.getpid()}"
        registry = self.registry
        relay = Relay(self.engine, self.redis, metrics=RelayMetrics(registry) if registry else None)
        if registry is not None:
            registry.register(OutboxBacklogCollector(self.outbox_backlog))
        parts: list[tuple[str, threading.Thread]] = [("relay", threading.Thread(target=relay.run, args=(stop,)))]
        consumed = ConsumerMetrics(registry) if registry else None
        for handler in self.handlers:
            consumer = Consumer(
                self.redis, handler, consumer_name=name, block_ms=self.config.consumer_block_ms, metrics=consumed
            )
            parts.append((f"consumer {handler.name}", threading.Thread(target=consumer.run, args=(stop,))))
        parts.append(("processing", threading.Thread(target=self._processing, args=(stop,))))
        for label, thread in parts:
            thread.name = f"social {label}"
            thread.daemon = True
            thread.start()
        log.info("social runner %s: %s", name, ", ".join(label for label, _ in parts))
        stop.wait()
        for _, thread in parts:
            thread.join()

    def _processing(self, stop: threading.Event) -> None:
        next_purge = time.monotonic() + self.config.purge_every_s
        next_sweep = time.monotonic()  # at start: a host that was down has the most to delete
        while not stop.wait(self.config.processing_poll_s):
            try:
                self.process_once()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + self.config.purge_every_s
                    with self.engine.begin() as conn:
                        purge_deleted(conn, self.blobs, older_than_s=self.config.purge_after_s)
                if self.spool_dir is not None and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.config.sweep_every_s
                    swept = self.sweep_once()
                    if swept.uploads or swept.files:
                        log.info("swept %d expired uploads, %d spool files", swept.uploads, swept.files)
            except Exception:  # the loop must outlive a database or Redis hiccup: logged, retried
                log.exception("social processing round failed; retrying")

    def outbox_backlog(self) -> Backlog:
        """The outbox rows not relayed yet (``darkroom_outbox_pending`` and the oldest's age)."""
        with read_only(self.engine).connect() as conn:
            return read_backlog(conn, time.time())

    def process_once(self) -> int:
        """Settle the uploads and posts whose workflows ended; start runs that never began."""
        starter = AfterCommit(self.workflows)
        with starter.transaction(self.engine) as conn:
            return advance_processing(conn, start=starter)

    def sweep_once(self, *, now: float | None = None) -> Swept:
        """Delete the resumable uploads that expired by ``now`` and their spool files, and spool
        files left over under ``spool_dir`` (:func:`~darkroom.social.expiry.sweep_expired`)."""
        if self.spool_dir is None:
            return Swept()
        with self.engine.begin() as conn:
            return sweep_expired(conn, spool_dir=self.spool_dir, lifetime_s=self.config.upload_lifetime_s, now=now)
