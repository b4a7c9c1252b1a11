"""Dequeue cost against queue depth: time per message of a dequeue + complete of a small batch,
with 1K … 1M messages pending, for a simple queue, an exclusive queue (10 messages per
exclusivity value, so values grow with depth) and a ``where`` dequeue on an indexed key.

Every depth has its own queue, all filled first (with the client's own ``enqueue_many``
arguments (``Core``), 1000 messages a call, several calls per pipeline); then the depths are
measured in ROUNDS, interleaved (1K, 10K, 100K, 1M, 1K, …), so warm-up and changes in the
machine's load fall on every depth alike instead of on whichever depth came first. Each timed
step is followed by an untimed refill of as many matching messages, so the depth stays where it
was measured. Two numbers per step: client wall time (what a worker sees) and Redis's own script
time (INFO commandstats, less noisy).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.queue.server import BenchRedis
from bench.queue.stats import percentile
from darkroom.queue import DEFAULT_LIMITS, NewMessage, RedisQueue
from darkroom.queue.core import Core
from darkroom.queue.instructions import Script
from darkroom.queue.keys import Keys
from darkroom.queue.scripts import source

__all__ = ["CONTROL", "KINDS", "Depth", "Flatness", "measure", "measure_control"]

QUEUE = "flat"
ROUNDS = 10  # interleaved passes over the depths; each runs steps / ROUNDS steps per depth
FILL_BATCH = 1000
FILL_PIPELINE = 8
CODECS = ("h264", "hevc", "vp9", "av1")
PAYLOAD = b"1785000000.123456"


@dataclass(frozen=True)
class Kind:
    name: str
    create: dict[str, Any]
    where: dict[str, str] | None
    message: Callable[[int, bool], NewMessage]  # (index, refill) -> message


KINDS: tuple[Kind, ...] = (
    Kind("simple", {}, None, lambda i, refill: NewMessage(PAYLOAD)),
    Kind(
        "exclusive",
        {"exclusivity_key": "asset"},
        None,
        lambda i, refill: NewMessage(PAYLOAD, metadata={"asset": f"a{i // 10}"}),
    ),
    Kind(
        "where (indexed key)",
        {"indexed_keys": ["codec"]},
        {"codec": "av1"},
        lambda i, refill: NewMessage(PAYLOAD, metadata={"codec": "av1" if refill else CODECS[i % 4]}),
    ),
)


@dataclass
class Depth:
    pending: int
    client_us_per_msg: float
    redis_us_per_msg: float
    fill_per_s: float


@dataclass
class Flatness:
    kind: str
    depths: list[Depth] = field(default_factory=list)
    error: str | None = None

    def spread(self, attr: str) -> float:
        """max/min - 1 of the per-message cost across depths (0.2 = within 20%)."""
        values = [getattr(d, attr) for d in self.depths if math.isfinite(getattr(d, attr))]
        if len(values) < 2:
            return math.nan
        return max(values) / min(values) - 1.0


class _Filler:
    def __init__(self, redis: BenchRedis, kind: Kind, queue: str) -> None:
        self.client = redis.client
        self.queue = queue
        self.kind = kind
        self.core = Core(Keys(), DEFAULT_LIMITS)
        self.sha = str(self.client.script_load(source("enqueue")))
        self.next_index = 0

    def fill(self, count: int, refill: bool = False) -> None:
        pipe = self.client.pipeline(transaction=False)
        queued = 0
        while count > 0:
            n = min(FILL_BATCH, count)
            msgs = [self.kind.message(self.next_index + j, refill) for j in range(n)]
            self.next_index += n
            count -= n
            ins = next(self.core.enqueue_many(self.queue, msgs))
            assert isinstance(ins, Script)
            pipe.evalsha(self.sha, 1, ins.key, *ins.args)
            queued += 1
            if queued == FILL_PIPELINE or count == 0:
                pipe.execute()
                queued = 0


def _step(q: RedisQueue, redis: BenchRedis, kind: Kind, queue: str, batch: int) -> tuple[float, float, int]:
    before = redis.counters()
    start = time.perf_counter()
    leases = q.dequeue(queue, max_messages=batch, where=kind.where, fields=("payload",))
    q.complete_many(leases)
    wall = time.perf_counter() - start
    delta = redis.counters() - before
    n = max(1, len(leases))
    return wall * 1e6 / n, delta.usec.get("evalsha", 0) / n, len(leases)


# The control: the same data access pattern as a simple queue's dequeue + complete (pop the heads
# of a sorted set, HMGET and HSET each message hash, move members between sorted sets), in plain
# Lua with none of Darkroom's logic. If its cost grows with depth as much as ours, the growth is
# Redis and the memory hierarchy (cache and TLB misses on a bigger keyspace), not the queue.
CONTROL = "control: plain Redis, same access pattern"
_NOW = "1785000000000"
_CTL_FILL = f"""
local n, start, p = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4]
for i = start, start + n - 1 do
  local id = string.format('%026d', i)
  local seq = string.format('%016x', i) .. id
  redis.call('HSET', p .. 'm:' .. id, 'seq', seq, 'payload', ARGV[3], 'dl', '{_NOW}', 'att', '0', 'max', '3',
    'ca', '{_NOW}', 'ua', '{_NOW}', 'dg', 'ffffffffffffffffffffffffffffffff')
  redis.call('ZADD', p .. 'pending', i, seq)
end
"""
_CTL_TAKE = f"""
local p = ARGV[2]
local popped = redis.call('ZPOPMIN', p .. 'pending', ARGV[1])
local adds = {{'ZADD', p .. 'running'}}
for i = 1, #popped, 2 do
  local key = p .. 'm:' .. string.sub(popped[i], 17)
  redis.call('HMGET', key, 'seq', 'st', 'dl', 'x', 'ix', 'att', 'max', 'tok', 'le', 'va', 'payload')
  redis.call('HSET', key, 'st', 'running', 'att', '1', 'tok', '1', 'le', '{_NOW}', 'ua', '{_NOW}')
  adds[#adds + 1] = '{_NOW}'
  adds[#adds + 1] = popped[i]
end
if #adds > 2 then redis.call(unpack(adds)) end
local out = {{}}
for i = 1, #popped, 2 do out[#out + 1] = popped[i] end
return out
"""
_CTL_DONE = f"""
local p = ARGV[1]
local rems, adds = {{'ZREM', p .. 'running'}}, {{'ZADD', p .. 'completed'}}
for i = 2, #ARGV do
  local key = p .. 'm:' .. string.sub(ARGV[i], 17)
  redis.call('HMGET', key, 'seq', 'st', 'dl', 'x', 'ix', 'att', 'max', 'tok', 'le', 'va')
  redis.call('HSET', key, 'st', 'completed', 'ua', '{_NOW}', 'ft', '{_NOW}', 'le', '', 'res', '')
  rems[#rems + 1] = ARGV[i]
  adds[#adds + 1] = '{_NOW}'
  adds[#adds + 1] = ARGV[i]
end
redis.call(unpack(rems))
redis.call(unpack(adds))
"""


def _interleaved(
    sizes: list[int], steps: int, step: Callable[[int], tuple[float, float, int]]
) -> tuple[dict[int, list[float]], dict[int, list[float]], str | None]:
    """``step(size)`` ``steps`` times per size, in :data:`ROUNDS` interleaved rounds over the sizes."""
    client_us: dict[int, list[float]] = {size: [] for size in sizes}
    redis_us: dict[int, list[float]] = {size: [] for size in sizes}
    per_round = max(1, steps // ROUNDS)
    for _ in range(ROUNDS):
        for size in sizes:
            for _ in range(per_round):
                c_us, r_us, got = step(size)
                if got == 0:
                    return client_us, redis_us, f"dequeue found nothing at depth {size}"
                client_us[size].append(c_us)
                redis_us[size].append(r_us)
    return client_us, redis_us, None


def _filled(sizes: list[int], fill: Callable[[int, int], None]) -> dict[int, float]:
    """Fill every depth's queue (``fill(size, count)``); messages per second of each fill."""
    rates = {}
    for size in sorted(sizes):
        start = time.perf_counter()
        fill(size, size)
        took = time.perf_counter() - start
        rates[size] = size / took if took > 0 else math.nan
    return rates


def measure_control(redis: BenchRedis, sizes: list[int], steps: int, batch: int = 10) -> Flatness:
    result = Flatness(CONTROL)
    redis.flush()
    client = redis.client
    fill, take, done = (client.register_script(s) for s in (_CTL_FILL, _CTL_TAKE, _CTL_DONE))
    have = {size: 0 for size in sizes}

    def add(size: int, n: int) -> None:
        pipe = client.pipeline(transaction=False)
        for start in range(have[size], have[size] + n, FILL_BATCH):
            count = min(FILL_BATCH, have[size] + n - start)
            fill(keys=[], args=[count, start, PAYLOAD, f"ctl{size}:"], client=pipe)
        pipe.execute()
        have[size] += n

    def step(size: int) -> tuple[float, float, int]:
        before = redis.counters()
        t0 = time.perf_counter()
        members = take(keys=[], args=[batch, f"ctl{size}:"])
        done(keys=[], args=[f"ctl{size}:", *members])
        wall = time.perf_counter() - t0
        delta = redis.counters() - before
        add(size, batch)
        return wall * 1e6 / batch, delta.usec.get("evalsha", 0) / batch, len(members)

    rates = _filled(sizes, add)
    redis.wait_aof_rewrite()  # a rewrite the fill set off would fork and slow the steps
    client_us, redis_us, result.error = _interleaved(sorted(sizes), steps, step)
    for size in sorted(sizes):
        pending = int(client.zcard(f"ctl{size}:pending"))
        result.depths.append(
            Depth(pending, percentile(client_us[size], 50), percentile(redis_us[size], 50), rates[size])
        )
    return result


def measure(redis: BenchRedis, kind: Kind, sizes: list[int], steps: int, batch: int = 10) -> Flatness:
    result = Flatness(kind.name)
    redis.flush()
    q = RedisQueue(redis.client)
    fillers = {}
    for size in sizes:
        q.create_queue(f"{QUEUE}-{size}", lease_s=3600.0, **kind.create)
        fillers[size] = _Filler(redis, kind, f"{QUEUE}-{size}")

    def step(size: int) -> tuple[float, float, int]:
        c_us, r_us, got = _step(q, redis, kind, f"{QUEUE}-{size}", batch)
        fillers[size].fill(got, refill=True)
        return c_us, r_us, got

    rates = _filled(sizes, lambda size, n: fillers[size].fill(n))
    redis.wait_aof_rewrite()
    client_us, redis_us, result.error = _interleaved(sorted(sizes), steps, step)
    for size in sorted(sizes):
        pending = int(redis.client.zcard(Keys().prefix(f"{QUEUE}-{size}") + "pending"))
        result.depths.append(
            Depth(pending, percentile(client_us[size], 50), percentile(redis_us[size], 50), rates[size])
        )
    return result
