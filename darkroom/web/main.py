"""The HTTP app of a running platform: :func:`app_for` builds it from a
:class:`~darkroom.platform.wiring.Wiring` (what ``darkroom http`` and ``darkroom up`` serve)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from darkroom.api.secret import load_secret
from darkroom.platform.wiring import Wiring
from darkroom.social import credentials
from darkroom.social.processing import AfterCommit
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.app import create_app
from darkroom.web.deps import HttpLimits, WebDeps

__all__ = ["DatabaseAuthenticator", "app_for"]


@dataclass
class DatabaseAuthenticator:
    """Sessions and tokens from the credentials table: a read-only lookup per request (no write lock
    on SQLite). Uses are noted (``last_used_at``, about once a minute per credential) in batches:
    at most one short write per ``note_every_s`` for all the credentials due, by whichever request
    comes next, so a server with many readers does not write once per reader."""

    engine: sa.Engine
    note_every_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _due: dict[str, credentials.Identified] = field(default_factory=dict, init=False, repr=False)
    _noted_at: float = field(default=float("-inf"), init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def authenticate(self, secret: str) -> Viewer | None:
        with read_only(self.engine).begin() as conn:
            found = credentials.identify(conn, secret)
        if found is None:
            return None
        if found.stale_use:
            self._note(found)
        return found.viewer

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
        authenticator=DatabaseAuthenticator(wiring.db),
        secret=load_secret(wiring.settings),
        starts=lambda: AfterCommit(wiring.workflows),  # built at the first upload (cached by the wiring)
        limits=HttpLimits.from_settings(wiring.settings),
        queue=wiring.queue,  # the operator pages' queues and workers
        registry=CollectorRegistry(auto_describe=True) if registry is None else registry,
    )
    return create_app(deps)
