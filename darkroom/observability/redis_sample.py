"""One cheap look at a Redis: :class:`RedisSampler` reads a :class:`RedisSample`.

A sample is one pipelined round trip (``INFO all``, ``LATENCY LATEST``, ``SLOWLOG LEN``/``GET``,
``MEMORY STATS``, Darkroom's registry of queues and its streams), a few timed ``PING``s (the
collector's own view of latency), and a second pipeline only when there is something to read:
the queues' depths, and ``CLIENT LIST`` when a client is blocked or the clients near
``maxclients``. ``CONFIG GET`` is cached (``config_every_s``): it rarely changes. Key families
only a ``SCAN`` reaches are counted less often still (``census_every_s``).

The sampler parses replies itself, so it owns its client (:meth:`RedisSampler.from_url`): it turns
off redis-py's parsing of the commands it sends, for RESP2 and RESP3 alike.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from darkroom.observability.errors import RedisUnreachable
from darkroom.observability.keyspace import (
    QUEUE_STATES,
    KeyCount,
    KeyFamily,
    KeyLayout,
    Keyspace,
    QueueDepth,
    StreamGroup,
    StreamState,
)
from darkroom.observability.redis_info import Info, parse_info
from darkroom.queue.keys import Keys

__all__ = [
    "HEALTH_CLIENT_NAME",
    "ClientEntry",
    "LatencyEvent",
    "RedisConfig",
    "RedisSample",
    "RedisSampler",
    "RoundTrip",
    "SlowEntry",
    "percentile",
    "redact_url",
]

HEALTH_CLIENT_NAME = "darkroom:health"
_RAW_REPLIES = ("INFO", "CONFIG GET", "MEMORY STATS", "SLOWLOG GET", "XINFO GROUPS", "CLIENT LIST", "SCAN", "SMEMBERS")
_CONFIG = (
    "maxmemory", "maxmemory-policy", "maxclients", "save", "appendonly", "latency-monitor-threshold",
    "slowlog-log-slower-than",
)  # fmt: skip
# CLIENT LIST costs O(clients): read it only when someone is blocked or the clients near the limit
_CLIENT_LIST_FROM = 0.5


@dataclass(frozen=True, slots=True)
class LatencyEvent:
    """A ``LATENCY LATEST`` row: the latest spike of one event (``command``, ``fork``, ``aof-write``…)."""

    event: str
    at_s: int  # server epoch seconds of the latest spike
    latest_ms: int
    max_ms: int  # all-time (since LATENCY RESET)


@dataclass(frozen=True, slots=True)
class SlowEntry:
    """A ``SLOWLOG GET`` entry; ``command`` is the command's name only (arguments may be data)."""

    id: int
    at_s: int
    duration_us: int
    command: str
    client_name: str


@dataclass(frozen=True, slots=True)
class ClientEntry:
    """One ``CLIENT LIST`` row, reduced to what the diagnosis reads."""

    name: str
    flags: str
    command: str

    @property
    def blocked(self) -> bool:
        return "b" in self.flags


@dataclass(frozen=True, slots=True)
class RedisConfig:
    maxmemory_bytes: int
    maxmemory_policy: str
    maxclients: int
    save: str  # "" when RDB snapshots are off
    appendonly: bool
    latency_monitor_threshold_ms: int
    slowlog_slower_than_us: int


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """The collector's own ``PING`` round trips, in ms (network and queueing behind other commands)."""

    samples_ms: tuple[float, ...]

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.samples_ms, 99)

    @property
    def max_ms(self) -> float:
        return max(self.samples_ms, default=0.0)


@dataclass(frozen=True, slots=True)
class _Lookups:
    hits: int
    misses: int


@dataclass(frozen=True, slots=True)
class RedisSample:
    taken_at_s: float  # monotonic: the distance between two samples
    info: Info
    config: RedisConfig
    latency_events: tuple[LatencyEvent, ...]
    slowlog_length: int
    slowlog: tuple[SlowEntry, ...]  # the newest few
    memory_stats: Mapping[str, float]  # MEMORY STATS' numeric fields ("overhead.total", "clients.normal"…)
    round_trip: RoundTrip
    clients: tuple[ClientEntry, ...] | None  # None: not read this time (see the module docstring)
    keyspace: Keyspace | None  # None without a layout
    # the keyspace hits and misses this sample's own reads of Darkroom's keys caused
    own_lookups: _Lookups = _Lookups(0, 0)

    @property
    def server_time_s(self) -> float:
        return self.info.server_time_s


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def redact_url(url: str) -> str:
    """``url`` without its password or query (what an error may show)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# -- reply shapes (RESP2 flat lists and RESP3 maps alike) -------------------------------------------
def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _int(value: object, default: int = 0) -> int:
    try:
        return int(_text(value))
    except ValueError:
        return default


def _pairs(reply: object) -> dict[str, object]:
    if isinstance(reply, dict):
        return {_text(k): v for k, v in reply.items()}
    if isinstance(reply, list | tuple):
        return {_text(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
    return {}


def _config(reply: object) -> RedisConfig:
    c = {k: _text(v) for k, v in _pairs(reply).items()}
    return RedisConfig(
        maxmemory_bytes=_int(c.get("maxmemory")),
        maxmemory_policy=c.get("maxmemory-policy", ""),
        maxclients=_int(c.get("maxclients")),
        save=c.get("save", ""),
        appendonly=c.get("appendonly", "") == "yes",
        latency_monitor_threshold_ms=_int(c.get("latency-monitor-threshold")),
        slowlog_slower_than_us=_int(c.get("slowlog-log-slower-than"), -1),
    )


def _latency_events(reply: object) -> tuple[LatencyEvent, ...]:
    rows = reply if isinstance(reply, list) else []
    return tuple(
        LatencyEvent(_text(r[0]), _int(r[1]), _int(r[2]), _int(r[3]))
        for r in rows
        if isinstance(r, list | tuple) and len(r) >= 4
    )


def _slowlog(reply: object) -> tuple[SlowEntry, ...]:
    out = []
    for r in reply if isinstance(reply, list) else []:
        if not isinstance(r, list | tuple) or len(r) < 4:
            continue
        args = r[3] if isinstance(r[3], list | tuple) else []
        name = _text(r[5]) if len(r) > 5 else ""
        out.append(SlowEntry(_int(r[0]), _int(r[1]), _int(r[2]), _text(args[0]).lower() if args else "", name))
    return tuple(out)


def _memory_stats(reply: object) -> dict[str, float]:
    out = {}
    for key, value in _pairs(reply).items():
        if isinstance(value, int | float):
            out[key] = float(value)
        elif isinstance(value, bytes | str):
            try:
                out[key] = float(_text(value))
            except ValueError:
                continue
    return out


def _clients(reply: object) -> tuple[ClientEntry, ...]:
    out = []
    for line in _text(reply).splitlines():
        fields = dict(part.partition("=")[::2] for part in line.split(" ") if "=" in part)
        out.append(ClientEntry(fields.get("name", ""), fields.get("flags", ""), fields.get("cmd", "")))
    return tuple(out)


def _groups(reply: object) -> tuple[StreamGroup, ...]:
    out = []
    for row in reply if isinstance(reply, list) else []:
        g = _pairs(row)
        lag = g.get("lag")
        out.append(
            StreamGroup(
                _text(g.get("name")),
                _int(g.get("consumers")),
                _int(g.get("pending")),
                _int(lag) if lag is not None else None,
            )
        )
    return tuple(out)


# -- the sampler ----------------------------------------------------------------------------------
class RedisSampler:
    """Takes :class:`RedisSample`s of one Redis; a failure to reach it is :class:`RedisUnreachable`."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        layout: KeyLayout | None = None,
        pings: int = 5,
        slowlog_entries: int = 16,
        config_every_s: float = 60.0,
        census_every_s: float = 60.0,
        census_max_steps: int = 100,
        clock: Callable[[], float] = time.monotonic,
        where: str = "redis",
    ) -> None:
        self.client = client
        for command in _RAW_REPLIES:
            client.set_response_callback(command, lambda reply, **_: reply)
        self.layout = layout
        self.keys = Keys(layout.namespace) if layout else None
        self.pings = max(1, pings)
        self.slowlog_entries = slowlog_entries
        self.config_every_s = config_every_s
        self.census_every_s = census_every_s
        self.census_max_steps = census_max_steps
        self.where = where  # how errors name this Redis (never with its password)
        self._clock = clock
        self._config: tuple[float, RedisConfig] | None = None
        self._counts: dict[str, KeyCount] = {}

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 5.0, layout: KeyLayout | None = None) -> RedisSampler:
        """A sampler with a client of its own, named ``darkroom:health``, that does not retry: an
        unreachable Redis answers at once."""
        client = redis.Redis.from_url(
            url,
            client_name=HEALTH_CLIENT_NAME,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, layout=layout, where=redact_url(url))

    def close(self) -> None:
        self.client.close()

    def sample(self) -> RedisSample:
        try:
            return self._sample()
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError, OSError) as exc:
            raise RedisUnreachable(f"Redis at {self.where} is unreachable: {exc}") from exc
        except redis.RedisError as exc:
            # what answered is not a Redis we can read: another protocol on the port (InvalidResponse),
            # a database index the server does not have (SELECT refused at connect)
            raise RedisUnreachable(f"Redis at {self.where} cannot be read: {exc}") from exc

    def _sample(self) -> RedisSample:
        # Every read of Darkroom's keys comes before this sample's INFO, so the hits and misses
        # between two samples' INFO are the next sample's own lookups plus everyone else's: the
        # sample records its own (``own_lookups``) and the rates take them out.
        now = self._clock()
        cached = self._config[1] if self._config and now - self._config[0] < self.config_every_s else None
        queues, streams, own = self._registry_and_streams()
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            for state in QUEUE_STATES:
                pipe.execute_command("ZCARD", self.keys.state_set(queue, state))  # type: ignore[union-attr]
        pipe.execute_command("INFO", "all")
        pipe.execute_command("LATENCY", "LATEST")
        pipe.execute_command("SLOWLOG", "LEN")
        pipe.execute_command("SLOWLOG", "GET", self.slowlog_entries)
        pipe.execute_command("MEMORY", "STATS")
        if cached is None:
            pipe.execute_command("CONFIG", "GET", *_CONFIG)
        replies = pipe.execute(raise_on_error=False)
        n = len(queues) * len(QUEUE_STATES)
        counts = [_int(r) for r in replies[:n]]
        own = _Lookups(own.hits + sum(1 for c in counts if c), own.misses + sum(1 for c in counts if not c))
        info_reply = replies[n]
        if isinstance(info_reply, redis.ResponseError):
            # NOAUTH, or an ACL refusing INFO: the sample would be empty, so it is not reachable to us
            raise RedisUnreachable(f"Redis at {self.where} refused INFO: {info_reply}")
        info = parse_info(_text(info_reply))
        events, slow_len, slow, mem, *rest = (
            None if isinstance(r, redis.ResponseError) else r for r in replies[n + 1 :]
        )
        if cached is None:
            config = _config(rest[0])
            self._config = (now, config)
        else:
            config = cached
        round_trip = self._ping()
        keyspace = None
        if self.layout is not None:
            depths = tuple(
                QueueDepth(queue, state, counts[i * len(QUEUE_STATES) + j])
                for i, queue in enumerate(queues)
                for j, state in enumerate(QUEUE_STATES)
            )
            keyspace = Keyspace(queues, depths, streams, self._census(now, self.layout.families))
        return RedisSample(
            taken_at_s=now,
            info=info,
            config=config,
            latency_events=_latency_events(events),
            slowlog_length=_int(slow_len),
            slowlog=_slowlog(slow),
            memory_stats=_memory_stats(mem),
            round_trip=round_trip,
            clients=self._clients(info, config),
            keyspace=keyspace,
            own_lookups=own,
        )

    def _registry_and_streams(self) -> tuple[tuple[str, ...], tuple[StreamState, ...], _Lookups]:
        """The queues' names and the streams' state (one round trip), and the lookups that took."""
        if self.layout is None or self.keys is None:
            return (), (), _Lookups(0, 0)
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command("SMEMBERS", self.keys.registry)
        for stream in self.layout.streams:
            pipe.execute_command("XLEN", stream)
            pipe.execute_command("XINFO", "GROUPS", stream)
        replies = pipe.execute(raise_on_error=False)
        names = replies[0] if isinstance(replies[0], set | list) else ()
        queues = tuple(sorted(_text(q) for q in names))
        streams = []
        found = [bool(queues)]
        for i, stream in enumerate(self.layout.streams):
            length, groups = replies[1 + 2 * i], replies[2 + 2 * i]
            missing = isinstance(groups, redis.ResponseError)
            found += [not missing, not missing]
            streams.append(StreamState(stream, _int(length), () if missing else _groups(groups)))
        return queues, tuple(streams), _Lookups(sum(found), len(found) - sum(found))

    def _clients(self, info: Info, config: RedisConfig) -> tuple[ClientEntry, ...] | None:
        maxclients = config.maxclients or info.clients.maxclients
        if not (
            info.clients.blocked > 0 or (maxclients > 0 and info.clients.connected >= _CLIENT_LIST_FROM * maxclients)
        ):
            return None
        try:
            return _clients(self.client.execute_command("CLIENT", "LIST", "TYPE", "normal"))
        except redis.ResponseError:  # refused by an ACL: the checks do without
            return None

    def _ping(self) -> RoundTrip:
        samples = []
        for _ in range(self.pings):
            started = time.perf_counter()
            # an error reply is a round trip all the same: after a failed BGSAVE, Redis answers
            # PING with MISCONF (stop-writes-on-bgsave-error), and the persistence check says why
            with contextlib.suppress(redis.ResponseError):
                self.client.execute_command("PING")
            samples.append((time.perf_counter() - started) * 1000.0)
        return RoundTrip(tuple(samples))

    def _census(self, now: float, families: tuple[KeyFamily, ...]) -> tuple[KeyCount, ...]:
        for family in families:
            known = self._counts.get(family.name)
            if known is not None and now - known.counted_at_s < self.census_every_s:
                continue
            cursor, seen, steps = b"0", 0, 0
            while True:
                reply = self.client.execute_command("SCAN", cursor, "MATCH", family.pattern, "COUNT", 1000)
                cursor, batch = reply[0], reply[1]
                seen += len(batch)
                steps += 1
                if _text(cursor) == "0" or steps >= self.census_max_steps:
                    break
            self._counts[family.name] = KeyCount(family.name, seen, _text(cursor) == "0", now)
        return tuple(self._counts[f.name] for f in families)
