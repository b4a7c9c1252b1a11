"""The parts one process needs, built from :class:`Settings` on first use.

Every runtime command (``darkroom worker``, ``engine``, ``workflow …``) and the local platform
reach Redis, the metadata database, the blob store and the operations store the same way: Redis
at ``DARKROOM_REDIS_URL``, or the private redis-server under ``home`` when it is running (asked
through ``private_redis``: the local platform's, which a process on another host never needs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import redis
import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.config import ConfigError, Settings
from darkroom.platform.health import client_name
from darkroom.platform.resources import task_resources
from darkroom.platform.run_events import run_event_sink
from darkroom.runtime.app import load_app
from darkroom.runtime.functions import Registry
from darkroom.runtime.operations import Operation, OperationStore
from darkroom.runtime.resources import Resources
from darkroom.runtime.workflow import Workflows
from darkroom.runtime.workflow.run_events import RunEventSink
from darkroom.storage.blobs.base import BlobStore

__all__ = ["PrivateRedis", "Wiring"]

PrivateRedis = Callable[[Path], str | None]
"""The URL of the private redis-server running under a home, or None when none runs there."""


@dataclass
class Wiring:
    """``private_redis`` finds the Redis when the settings name none (``darkroom.local`` has one)."""

    settings: Settings = field(default_factory=Settings.from_env)
    app: str | None = None
    private_redis: PrivateRedis | None = None
    # what this process is (worker, engine, social, http…): its Redis connections are named
    # ``darkroom:<role>`` (CLIENT SETNAME), so CLIENT LIST and the health checks tell them apart
    role: str = "cli"

    @cached_property
    def redis_url(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        private = self.private_redis(self.settings.home) if self.private_redis is not None else None
        if private:
            return private
        raise ConfigError(
            "no Redis: pass --url, set DARKROOM_REDIS_URL, or start the platform (darkroom up) under "
            f"{self.settings.home}"
        )

    @cached_property
    def queue(self) -> dq.RedisQueue:
        s = self.settings
        client = redis.Redis.from_url(self.redis_url, client_name=client_name(self.role))
        return dq.RedisQueue(client, namespace=s.namespace, limits=dq.Limits.of(s.limits))

    @cached_property
    def redis(self) -> redis.Redis:
        """A client of :attr:`redis_url` for the social product (feeds, caches, events, limits)."""
        return redis.Redis.from_url(self.redis_url, client_name=client_name(self.role))

    @cached_property
    def db(self) -> sa.Engine:
        from darkroom.storage.db import open_database

        return open_database(self.settings)

    @cached_property
    def registry(self) -> Registry:
        return load_app(self.app or self.settings.app)

    @cached_property
    def blobs(self) -> BlobStore:
        from darkroom.storage.blobs import blobs_from_settings

        return blobs_from_settings(self.settings)

    @cached_property
    def resources(self) -> Resources:
        """What a worker puts on every task's context: the settings and :attr:`blobs`."""
        return task_resources(self.settings, self.blobs)

    @cached_property
    def operations(self) -> OperationStore:
        return OperationStore(self.db, cancellers={"workflow": self._cancel_workflow})

    @cached_property
    def run_events(self) -> RunEventSink | None:
        """Where engines record their runs' step.finished / workflow.finished events
        (``DARKROOM_RUN_EVENTS``; :mod:`darkroom.platform.run_events`)."""
        return run_event_sink(self.settings.run_events)

    @cached_property
    def workflows(self) -> Workflows:
        return Workflows(self.queue, self.db, self.registry, operations=self.operations)

    def _cancel_workflow(self, op: Operation) -> bool:
        """Ask the engine to cancel the run; it records how the run (and so the operation) ended."""
        if not op.target:
            return False
        # canceling needs no workflow definitions: an empty registry keeps the app unloaded
        Workflows(self.queue, self.db, Registry()).cancel(op.target)
        return True

    def close(self) -> None:
        if "queue" in self.__dict__:
            self.queue.close()
        if "redis" in self.__dict__:
            self.redis.close()
        if "db" in self.__dict__:
            self.db.dispose()
