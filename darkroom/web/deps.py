"""What the HTTP app's routes need, handed to :func:`darkroom.web.app.create_app` by the composition
root: the database, Redis, the blob store, the settings, who a credential belongs to, a server
secret, and the edge's limits. Routes reach it with the :data:`Deps` dependency."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Protocol

import redis
import sqlalchemy as sa
from fastapi import Depends, Request

from darkroom.api.cursors import CursorCodec
from darkroom.api.ratelimit import Rate
from darkroom.config import Settings
from darkroom.social.viewer import Viewer
from darkroom.storage.blobs import BlobStore

__all__ = ["Authenticator", "Deps", "HttpLimits", "WebDeps", "get_deps"]


class Authenticator(Protocol):
    """Who a presented credential (a bearer token or a session cookie's value) belongs to."""

    def authenticate(self, secret: str) -> Viewer | None:
        """The viewer behind ``secret``; None when it is unknown, expired or revoked."""
        ...


_MASTODON_RATE = Rate(300, 300.0)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The edge's limits: requests per account (signed in) and per address (always, Mastodon's
    300 per 5 minutes each), and how long idempotency keys are kept and held while running."""

    per_account: Rate = _MASTODON_RATE
    per_ip: Rate = _MASTODON_RATE
    idempotency_ttl_s: float = 86400.0
    idempotency_running_ttl_s: float = 300.0
    # a POST answer larger than this is not kept for replay (the claim is released instead)
    idempotency_max_body_bytes: int = 1 << 20


def _new_secret() -> bytes:
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class WebDeps:
    """``secret`` signs cursors and derives CSRF tokens: give every process of one deployment the
    same one (``darkroom.api.secret.load_secret``); the default, random per process, suits tests
    and a single process that may forget its cursors on restart."""

    engine: sa.Engine
    redis: redis.Redis
    blobs: BlobStore
    settings: Settings
    authenticator: Authenticator
    secret: bytes = field(default_factory=_new_secret, repr=False)
    limits: HttpLimits = field(default_factory=HttpLimits)

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("the web app's secret needs at least 16 bytes")

    @functools.cached_property
    def cursors(self) -> CursorCodec:
        """Page cursors signed with ``secret``."""
        return CursorCodec(self.secret)


def get_deps(request: Request) -> WebDeps:
    """The app's :class:`WebDeps` (a FastAPI dependency)."""
    deps: WebDeps = request.app.state.deps
    return deps


Deps = Annotated[WebDeps, Depends(get_deps)]
