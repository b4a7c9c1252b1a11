"""Rate limits in Redis: per-subject quotas (an account, an address), checked and charged together in
one Lua call per request.

The algorithm is GCRA (the generic cell rate algorithm of redis-cell, throttled and Stripe's
limiter), not the ``limits`` library's moving window (a sorted set or list of every hit: memory
grows with the limit) or its sliding-window counter (two counters and an approximation). GCRA
keeps one number per quota — the theoretical arrival time (TAT) of the next request — and gives
exact answers: a quota of ``limit`` per ``period_s`` admits a burst of ``limit`` and then one
request every ``period_s / limit``; ``remaining`` is how many would be admitted right now,
``reset_s`` when the quota is whole again, and a refusal says exactly when to retry.

One call checks every quota of a request and charges them only if all admit it: a request refused
for its account does not use up its address's quota. Time comes from Redis ``TIME``, so clients'
clocks do not matter.

Redis keys (``prefix`` is the limiter's, ``http`` in the web app):

==================================  ========  =================================================
key                                 type      holds
==================================  ========  =================================================
``PREFIX:{rl}:NAME:SUBJECT``        string    the quota's TAT in ms since the epoch; expires
                                              when the quota is whole again
==================================  ========  =================================================

Every key shares the hash tag ``{rl}`` so that one script may touch the quotas of an account and
an address; on Redis Cluster the limits live on one shard (a few bytes per active subject).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import redis

__all__ = ["Decision", "Quota", "Rate", "RateLimiter", "key_pattern"]

# KEYS[i]: a quota's TAT (ms). ARGV[1]: cost; ARGV[2i], ARGV[2i+1]: the quota's emission interval
# and period, in ms. Returns {admitted (0/1), then per quota: remaining, reset_ms, retry_ms}.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local n = #KEYS
local tats, interval, period = {}, {}, {}
local admitted = 1
for i = 1, n do
  interval[i] = tonumber(ARGV[2 * i])
  period[i] = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  if tat + interval[i] * cost - period[i] > now then admitted = 0 end
end
local out = {admitted}
for i = 1, n do
  local tat = tats[i]
  local retry = 0
  local excess = tat + interval[i] * cost - period[i] - now
  if admitted == 1 then
    tat = tat + interval[i] * cost
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
  elseif excess > 0 then
    retry = math.ceil(excess)
  end
  out[#out + 1] = math.max(0, math.floor((now - tat + period[i]) / interval[i]))
  out[#out + 1] = math.ceil(tat - now)
  out[#out + 1] = retry
end
return out
"""


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` requests per ``period_s`` seconds (a burst of ``limit``, then a steady pace)."""

    limit: int
    period_s: float

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.period_s > 0:
            raise ValueError(f"a rate needs limit >= 1 and period_s > 0, not {self.limit} per {self.period_s} s")

    def __str__(self) -> str:
        return f"{self.limit} per {self.period_s:g} s"


@dataclass(frozen=True, slots=True)
class Quota:
    """One subject's quota: ``name`` is what is limited (``account``, ``ip``), ``subject`` whose it is."""

    name: str
    subject: str
    rate: Rate

    def __str__(self) -> str:
        return f"{self.name} {self.subject!r}"


@dataclass(frozen=True, slots=True)
class Decision:
    """What one request got. ``quota`` is the one the headers report: the quota that refused the
    request (the longest wait), else the one with the fewest requests remaining."""

    admitted: bool
    quota: Quota
    remaining: int
    reset_s: int
    retry_after_s: int

    @property
    def limit(self) -> int:
        return self.quota.rate.limit

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit``/``-Remaining``/``-Reset``, and ``Retry-After`` when refused."""
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.admitted:
            out["Retry-After"] = str(self.retry_after_s)
        return out


def key_pattern(prefix: str) -> str:
    """The SCAN pattern of every quota key under ``prefix`` (what the Redis health sample counts)."""
    return f"{prefix}:{{rl}}:*"


class RateLimiter:
    """Checks quotas in Redis (``client``: a ``redis.Redis``); keys start with ``prefix``."""

    def __init__(self, client: redis.Redis, *, prefix: str = "http") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_GCRA)

    def key(self, quota: Quota) -> str:
        return f"{self._prefix}:{{rl}}:{quota.name}:{quota.subject}"

    def hit(self, quotas: Sequence[Quota], *, cost: int = 1) -> Decision:
        """Check ``quotas`` and charge each ``cost`` requests if every one admits them."""
        if not quotas:
            raise ValueError("hit() needs at least one quota")
        if cost < 1:
            raise ValueError(f"cost must be >= 1, not {cost}")
        args: list[float] = [cost]
        for quota in quotas:
            period_ms = quota.rate.period_s * 1000.0
            args += [period_ms / quota.rate.limit, period_ms]
        reply = self._script(keys=[self.key(q) for q in quotas], args=args)
        admitted = bool(reply[0])
        rows = [(q, int(reply[1 + 3 * i]), int(reply[2 + 3 * i]), int(reply[3 + 3 * i])) for i, q in enumerate(quotas)]
        if admitted:
            quota, remaining, reset_ms, retry_ms = min(rows, key=lambda r: (r[1], -r[2]))
        else:
            quota, remaining, reset_ms, retry_ms = max(rows, key=lambda r: r[3])
        return Decision(
            admitted=admitted,
            quota=quota,
            remaining=remaining,
            reset_s=math.ceil(reset_ms / 1000),
            # a client told "0" would retry at once and be refused again: never less than a second
            retry_after_s=0 if admitted else max(1, math.ceil(retry_ms / 1000)),
        )
