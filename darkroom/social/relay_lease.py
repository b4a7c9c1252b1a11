"""The relay lease: one relay publishes at a time, so rows reach the stream in the order the relay
reads them.

The lease (``keys.RELAY_LEASE``) holds a *fencing token*, a counter (``keys.RELAY_FENCE``) bumped
per lease. The publish script (:mod:`darkroom.social.relay_publish`) checks the token in the same
call as its ``XADD``, so a relay that stalled past its lease cannot publish after another relay
has taken over.
"""

from __future__ import annotations

import logging

import redis

from darkroom.social import keys
from darkroom.social.metrics import RelayMetrics

__all__ = ["RelayLease"]

log = logging.getLogger(__name__)

# KEYS: 1 lease, 2 fencing counter. ARGV: 1 the caller's token ('' for none), 2 lease ms.
# Renews the caller's lease, or takes a free one with a new token; false when another holds it.
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held and held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return held
end
if held then return false end
local token = tostring(redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RelayLease:
    """One relay's hold on the lease: its fencing token, ``""`` while it holds none."""

    def __init__(self, redis_client: redis.Redis, *, metrics: RelayMetrics | None = None) -> None:
        self.metrics = metrics
        self.token = ""
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._release = redis_client.register_script(_RELEASE)

    def acquire(self, lease_s: float) -> bool:
        """Take or renew the lease for ``lease_s``; False while another relay holds it."""
        token = self._acquire(keys=[keys.RELAY_LEASE, keys.RELAY_FENCE], args=[self.token, int(lease_s * 1000)])
        if token is None:
            if self.token:
                log.warning("relay lease %s lost to another relay", self.token)
            self.token = ""
            return False
        token = token.decode() if isinstance(token, bytes) else str(token)
        if token != self.token:
            log.info("relay lease taken (token %s)", token)
            if self.metrics:
                self.metrics.leases.inc()
        self.token = token
        return True

    def release(self) -> None:
        """Give the lease back (another relay may take it at once)."""
        if self.token:
            self._release(keys=[keys.RELAY_LEASE], args=[self.token])
            self.token = ""

    def lost(self) -> None:
        """Note that another relay took the lease (the publish script said so)."""
        self.token = ""
        if self.metrics:
            self.metrics.leases_lost.inc()
