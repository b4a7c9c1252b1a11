"""Where Darkroom keeps its keys, for the Redis health sample (``darkroom.observability``).

The observability package sits below the social product and the HTTP edge, so it cannot read
their key schemas; the composition root does, and hands the sample a :class:`KeyLayout`.
"""

from __future__ import annotations

from darkroom.api.ratelimit import key_pattern
from darkroom.config import Settings
from darkroom.observability.keyspace import KeyFamily, KeyLayout
from darkroom.social import keys as social_keys

__all__ = ["CLIENT_PREFIX", "HTTP_REDIS_PREFIX", "client_name", "key_layout"]

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
