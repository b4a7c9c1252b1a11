"""The parts one process needs, built from :class:`Settings` on first use.

Every runtime command (``darkroom worker``, ``engine``, ``workflow …``) and the local platform
reach Redis, the metadata database, the blob store and the operations store the same way: Redis
at ``DARKROOM_REDIS_URL``, or the private redis-server under ``home`` when it is running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sqlalchemy as sa

import darkroom.queue as dq
from darkroom.config import ConfigError, Settings
from darkroom.local.redis_server import RedisServer
from darkroom.runtime.app import load_app
from darkroom.runtime.functions import Registry
from darkroom.runtime.operations import Operation, OperationStore
from darkroom.runtime.workflow import Workflows

__all__ = ["Wiring"]


@dataclass
class Wiring:
    settings: Settings = field(default_factory=Settings.from_env)
    app: str | None = None

    @cached_property
    def redis_url(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        private = RedisServer(root=self.settings.home)
        if private.ping():
            return private.url
        raise ConfigError(
            "no Redis: pass --url, set DARKROOM_REDIS_URL, or start the platform (darkroom up) under "
            f"{self.settings.home}"
        )

    @cached_property
    def queue(self) -> dq.RedisQueue:
        s = self.settings
        return dq.RedisQueue.from_url(self.redis_url, namespace=s.namespace, limits=dq.Limits.of(s.limits))

    @cached_property
    def db(self) -> sa.Engine:
        from darkroom.storage.db import open_database

        return open_database(self.settings)

    @cached_property
    def registry(self) -> Registry:
        return load_app(self.app or self.settings.app)

    @cached_property
    def blobs(self) -> Any:
        from darkroom.storage.blobs import blobs_from_settings

        return blobs_from_settings(self.settings)

    @cached_property
    def operations(self) -> OperationStore:
        return OperationStore(self.db, cancellers={"workflow": self._cancel_workflow})

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
        if "db" in self.__dict__:
            self.db.dispose()
