"""The one Redis setting a queue cannot live without: ``maxmemory-policy noeviction``.

Queue messages, leases and counters have no TTL; any other policy lets Redis delete them at
``maxmemory`` (``allkeys-*``) or delete the rate limits, feeds and idempotency records beside them
(``volatile-*``). The platform warns at start (``darkroom.local.queue_service``); the ``evictions``
check says the same on every ``darkroom health``.
"""

from __future__ import annotations

import redis

__all__ = ["SAFE_POLICY", "eviction_warning"]

SAFE_POLICY = "noeviction"


def eviction_warning(client: redis.Redis) -> str | None:
    """A one-line warning when ``client``'s Redis may evict keys, else None (also when it cannot tell:
    an ACL refusing CONFIG GET is not a reason to stop a start)."""
    try:
        reply = client.config_get("maxmemory-policy")
    except redis.ResponseError:
        return None
    policy = reply.get("maxmemory-policy") if isinstance(reply, dict) else None
    if isinstance(policy, bytes):
        policy = policy.decode()
    if not policy or policy == SAFE_POLICY:
        return None
    what = (
        "queue messages and leases" if policy.startswith("allkeys-") else "rate limits, feeds and idempotency records"
    )
    return (
        f"Redis maxmemory-policy is {policy}, not {SAFE_POLICY}: at maxmemory it deletes {what}. "
        f"Set it with CONFIG SET maxmemory-policy {SAFE_POLICY} (and in redis.conf)"
    )
