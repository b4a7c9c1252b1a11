"""The HTTP app of a running platform: :func:`app_for` builds it from a
:class:`~darkroom.platform.wiring.Wiring` (what ``darkroom http`` and ``darkroom up`` serve)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import FastAPI

from darkroom.api.secret import load_secret
from darkroom.platform.wiring import Wiring
from darkroom.social import credentials
from darkroom.social.processing import AfterCommit
from darkroom.social.viewer import Viewer
from darkroom.storage.db import read_only
from darkroom.web.app import create_app
from darkroom.web.deps import HttpLimits, WebDeps

__all__ = ["DatabaseAuthenticator", "app_for"]


@dataclass(frozen=True)
class DatabaseAuthenticator:
    """Sessions and tokens from the credentials table: a read-only lookup per request (no write lock
    on SQLite), and a short write about once a minute per credential to note its use."""

    engine: sa.Engine

    def authenticate(self, secret: str) -> Viewer | None:
        with read_only(self.engine).begin() as conn:
            found = credentials.identify(conn, secret)
        if found is None:
            return None
        if found.stale_use:
            with self.engine.begin() as conn:
                credentials.note_use(conn, found)
        return found.viewer


def app_for(wiring: Wiring) -> FastAPI:
    """The app over ``wiring``'s database, Redis and blob store, with the home's secret; uploads
    start their workflows once their transaction has committed; the rate limits from the settings."""
    deps = WebDeps(
        engine=wiring.db,
        redis=wiring.redis,
        blobs=wiring.blobs,
        settings=wiring.settings,
        authenticator=DatabaseAuthenticator(wiring.db),
        secret=load_secret(wiring.settings),
        starts=lambda: AfterCommit(wiring.workflows),  # built at the first upload (cached by the wiring)
        limits=HttpLimits.from_settings(wiring.settings),
    )
    return create_app(deps)
