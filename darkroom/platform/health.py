"""Where Darkroom keeps its keys, for the Redis health sample (``darkroom.observability``).

The observability package sits below the social product and the HTTP edge, so it cannot read
their key schemas; the composition root does, and hands the sample a :class:`KeyLayout`.
"""

from __future__ import annotations

import sqlalchemy as sa

from darkroom.api.ratelimit import key_pattern
from darkroom.config import Settings
from darkroom.observability.keyspace import KeyFamily, KeyLayout
from darkroom.observability.platform_checks import OutboxAge
from darkroom.social import keys as social_keys
from darkroom.social.outbox import read_backlog
from darkroom.storage.db import read_only

__all__ = ["CLIENT_PREFIX", "HTTP_REDIS_PREFIX", "client_name", "key_layout", "outbox_age"]

CLIENT_PREFIX = "darkroom:"
# the HTTP app's rate-limit prefix (darkroom.web.app.REDIS_PREFIX, which this layer may not import;
# tests/observability hold the two equal)
HTTP_REDIS_PREFIX = "http"


def client_name(role: str) -> str:
    """The CLIENT SETNAME of a Darkroom connection: ``darkroom:worker``, ``darkroom:social``…"""
    return CLIENT_PREFIX + role


def key_layout(settings: Settings) -> KeyLayout:
    return KeyLayout(
        namespace=settings.namespace,
        streams=(social_keys.EVENTS,),
        families=(
            KeyFamily("feeds", social_keys.feed("*")),
            KeyFamily("rate_limits", key_pattern(HTTP_REDIS_PREFIX)),
        ),
        client_prefix=CLIENT_PREFIX,
    )


def outbox_age(engine: sa.Engine) -> OutboxAge:
    """The ``outbox_backlog`` check's reading: the oldest unrelayed outbox row's age (two indexed
    queries on a read-only connection, as the social runner's gauge reads it)."""

    def age(now_s: float) -> float:
        with read_only(engine).connect() as conn:
            return read_backlog(conn, now_s).oldest_age_s

    return age
