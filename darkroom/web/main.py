"""The HTTP app of a running platform: :func:`app_for` builds it from a
:class:`~darkroom.platform.wiring.Wiring` (what ``darkroom http`` and ``darkroom up`` serve)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from darkroom.api.secret import load_secret
from darkroom.platform.wiring import Wiring
from darkroom.social import credential_cache, credentials
from darkroom.social.processing import AfterCommit
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.app import create_app
from darkroom.web.deps import HttpLimits, WebDeps

__all__ = ["DatabaseAuthenticator", "app_for"]


_MAX_NOTED = 100_000  # credentials whose last noted use a process remembers (then it starts over)


@dataclass
class DatabaseAuthenticator:
    """Sessions and tokens from the credentials table: a read-only lookup per request (no write lock
    on SQLite), or with ``redis`` through the credential cache (``social.credential_cache``: one GET,
    no SQL, for a credential seen in the last minutes). Uses are noted (``last_used_at``, about once
    a minute per credential) in batches: at most one short write per ``note_every_s`` for all the
    credentials due, by whichever request comes next, so a server with many readers does not write
    once per reader. A cached credential does not say when it was last used: each process notes a
    credential at most once per ``credentials.LAST_USED_EVERY_S``, by its own clock."""

    engine: sa.Engine
    redis: redis.Redis | None = None
    note_every_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _due: dict[str, credentials.Identified] = field(default_factory=dict, init=False, repr=False)
    _noted_at: float = field(default=float("-inf"), init=False, repr=False)
    _last_noted: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def authenticate(self, secret: str) -> Viewer | None:
        if self.redis is not None:
            found = credential_cache.identify(self.engine, self.redis, secret)
        else:
            with read_only(self.engine).begin() as conn:
                found = credentials.identify(conn, secret)
        if found is None:
            return None
        if found.stale_use and self._due_here(found.credential_id):
            self._note(found)
        return found.viewer

    def _due_here(self, credential_id: str) -> bool:
        """Whether this process has not noted ``credential_id`` for a minute (a cached credential's
        ``stale_use`` stays True once it is: noting a use does not refresh the cache's entry)."""
        if self.redis is None:
            return True
        moment = self.clock()
        if moment - self._last_noted.get(credential_id, float("-inf")) < credentials.LAST_USED_EVERY_S:
            return False
        if len(self._last_noted) >= _MAX_NOTED:
            self._last_noted.clear()
        self._last_noted[credential_id] = moment
        return True

    def _note(self, found: credentials.Identified) -> None:
        with self._lock:
            self._due[found.credential_id] = found
            moment = self.clock()
            if moment - self._noted_at < self.note_every_s:
                return
            batch, self._due, self._noted_at = list(self._due.values()), {}, moment
        with self.engine.begin() as conn:
            credentials.note_uses(conn, batch)


def app_for(wiring: Wiring, *, registry: CollectorRegistry | None = None) -> FastAPI:
    """The app over ``wiring``'s database, Redis and blob store, with the home's secret; uploads
    start their workflows once their transaction has committed; the rate limits from the settings;
    the platform's queue for the operator pages; its metrics on ``registry`` (default: one of its
    own, which a worker of ``darkroom http --workers N`` writes to the shared files)."""
    deps = WebDeps(
        engine=wiring.db,
        redis=wiring.redis,
        blobs=wiring.blobs,
        settings=wiring.settings,
        authenticator=DatabaseAuthenticator(wiring.db, wiring.redis),
        secret=load_secret(wiring.settings),
        starts=lambda: AfterCommit(wiring.workflows),  # built at the first upload (cached by the wiring)
        limits=HttpLimits.from_settings(wiring.settings),
        queue=wiring.queue,  # the operator pages' queues and workers
        registry=CollectorRegistry(auto_describe=True) if registry is None else registry,
    )
    return create_app(deps)
