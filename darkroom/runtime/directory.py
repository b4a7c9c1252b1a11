"""Which workers are alive, on which hosts, serving which queues.

Every worker announces itself while it runs (every :data:`ANNOUNCE_EVERY_S`, valid for
:data:`ANNOUNCE_TTL_S`) and leaves when it stops; a worker that dies just stops being announced.
Readers ask how many hosts serve a queue: the chunking policy spreads a title over hosts, not
over the slots of one host (whose cores x264 already fills).

Keys, beside the queue's (``darkroom.runtime.keys``; ``{ns}`` is the queue's namespace), one hash
tag for both, as the scripts touch both:
- ``{ns}:{rt:workers}:live`` — sorted set: worker name -> expiry (seconds, Redis ``TIME``, so host
  clocks do not matter);
- ``{ns}:{rt:workers}:info`` — hash: worker name -> JSON ``{"host", "queues", "shape"}``.
Expired entries are removed by the next reader, in the same script.
- ``{ns}:{rt:workers}:heartbeat_failures`` — sorted set: ``<worker>|<n>`` -> when one of its lease
  extensions failed (Redis ``TIME``), kept :data:`HEARTBEAT_WINDOW_S` and at most
  :data:`MAX_HEARTBEAT_FAILURES`; ``…:heartbeat_failures:n`` numbers them. The platform's own
  ``heartbeat_failures`` check reads it where no Prometheus sees the workers' counters.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from darkroom.runtime.keys import RuntimeKeys

if TYPE_CHECKING:
    from redis import Redis

    import darkroom.queue as dq

__all__ = [
    "ANNOUNCE_EVERY_S",
    "ANNOUNCE_TTL_S",
    "HEARTBEAT_WINDOW_S",
    "MAX_HEARTBEAT_FAILURES",
    "WorkerDirectory",
    "WorkerInfo",
    "keep_announced",
]

_log = logging.getLogger(__name__)

ANNOUNCE_EVERY_S = 10.0
ANNOUNCE_TTL_S = 30.0  # three missed announcements: the worker is gone
HEARTBEAT_WINDOW_S = 600.0  # failures are judged over 10 min (the DarkroomHeartbeatFailures rule's)
MAX_HEARTBEAT_FAILURES = 10_000  # kept at most: a storm of failures cannot grow the key without bound

_FAILED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], now, ARGV[1] .. '|' .. n)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
return n
"""

_FAILURES = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[2])), now)
"""

_ANNOUNCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, name in ipairs(gone) do
  redis.call('ZREM', KEYS[1], name)
  redis.call('HDEL', KEYS[2], name)
end
local out = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = name
  out[#out + 1] = redis.call('HGET', KEYS[2], name) or ''
end
return out
"""


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    host: str
    queues: tuple[str, ...] = ()
    shape: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"host": self.host, "queues": list(self.queues), "shape": self.shape}, sort_keys=True)

    @classmethod
    def from_json(cls, name: str, raw: str) -> WorkerInfo:
        try:
            data = json.loads(raw)
            return cls(name, str(data["host"]), tuple(map(str, data["queues"])), dict(data.get("shape") or {}))
        except (ValueError, KeyError, TypeError):
            return cls(name, "")  # written by something else: alive, host unknown


class WorkerDirectory:
    """The live workers under one namespace, in the queue's Redis."""

    def __init__(self, redis: Redis, namespace: str = "dr") -> None:
        names = RuntimeKeys(namespace)  # InvalidNamespace, as for the queue
        self.redis = redis
        self.keys = [names.workers_live, names.workers_info]
        self._failure_keys = [names.heartbeat_failures, f"{names.heartbeat_failures}:n"]
        self._announce = redis.register_script(_ANNOUNCE)
        self._live = redis.register_script(_LIVE)
        self._failed = redis.register_script(_FAILED)
        self._failures = redis.register_script(_FAILURES)

    @classmethod
    def of(cls, queue: dq.RedisQueue) -> WorkerDirectory:
        """The directory beside a :class:`~darkroom.queue.RedisQueue`'s keys."""
        return cls(queue.redis, queue.namespace)

    def announce(self, worker: WorkerInfo, *, ttl_s: float = ANNOUNCE_TTL_S) -> None:
        """``worker`` is alive for ``ttl_s`` more seconds (one round trip)."""
        self._announce(keys=self.keys, args=[worker.name, ttl_s, worker.to_json()])

    def leave(self, name: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.keys[0], name)
        pipe.hdel(self.keys[1], name)
        pipe.execute()

    def live(self) -> list[WorkerInfo]:
        """Every worker announced and not expired, by name (one round trip; prunes the expired)."""
        flat = self._live(keys=self.keys)
        pairs = zip(flat[::2], flat[1::2], strict=True)
        return [WorkerInfo.from_json(_text(name), _text(raw)) for name, raw in pairs]

    def heartbeat_failed(self, name: str) -> None:
        """Worker ``name`` failed to extend a lease now (one round trip; drops what is past the window)."""
        self._failed(keys=self._failure_keys, args=[name, HEARTBEAT_WINDOW_S, MAX_HEARTBEAT_FAILURES])

    def heartbeat_failures(self, *, window_s: float = HEARTBEAT_WINDOW_S, now_s: float | None = None) -> dict[str, int]:
        """Failed lease extensions per worker in the ``window_s`` before ``now_s`` (Redis's clock
        when None; only workers with one)."""
        members = self._failures(keys=self._failure_keys[:1], args=[-1 if now_s is None else now_s, window_s])
        counts: dict[str, int] = {}
        for member in members:
            name = _text(member).rpartition("|")[0]
            counts[name] = counts.get(name, 0) + 1
        return counts

    def hosts(self, queue: str | None = None) -> set[str]:
        """The hosts with a live worker (serving ``queue``, when given)."""
        return {w.host for w in self.live() if w.host and (queue is None or queue in w.queues)}


def keep_announced(
    directory: WorkerDirectory, worker: WorkerInfo, stop: threading.Event, *, every_s: float = ANNOUNCE_EVERY_S
) -> None:
    """Announce ``worker`` now and every ``every_s`` until ``stop`` is set, then leave (a thread's
    target). A failed announcement is logged: the directory is advisory, work goes on without it."""
    while True:
        try:
            directory.announce(worker)
        except Exception:
            _log.warning("announcing worker %s failed", worker.name, exc_info=True)
        if stop.wait(every_s):
            break
    try:
        directory.leave(worker.name)
    except Exception:
        _log.warning("worker %s could not leave the directory", worker.name, exc_info=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
