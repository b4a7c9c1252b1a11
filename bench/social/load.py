"""An open-loop HTTP load generator, run in its own process (``python -m bench.social.load``).

Request ``i`` is due at ``start + i / rate`` whatever happened to the ones before (constant
arrival rate, open loop), and its latency runs from that intended send time to the last byte of
its answer, so a server that falls behind shows every request it delayed (no coordinated
omission: Gil Tene's correction is built in rather than applied afterwards). A due request goes
out on an idle keep-alive connection, or on a new one (up to ``max_connections``), or waits for the
next connection to come free, its clock already running.

The client is a raw asyncio protocol on uvloop (HTTP/1.1, keep-alive, ``Content-Length`` or
chunked answers, the bytes of every request made up front), so on a 2-core machine the generator
spends little CPU per request; it reports its own CPU time so a reader can check it was not the
bottleneck. Times come from ``time.perf_counter`` (uvloop's ``loop.time`` has millisecond steps).

Input (a JSON file, ``--spec``): ``{"host", "port", "rate", "duration_s", "warmup_s",
"max_connections", "requests": [[path, bearer token], …]}``; requests are sent in that order,
round and round. Output (``--out``): a :class:`PhaseResult` as JSON. The first ``warmup_s``
seconds are sent but left out of the statistics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import socket
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

__all__ = ["LoadSpec", "PhaseResult", "percentile", "run", "summarize"]

_DRAIN_S = 10.0  # after the last send, answers are awaited this long; later ones count as timeouts


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    rate: float
    duration_s: float
    requests: list[tuple[str, str]]
    warmup_s: float = 0.0
    max_connections: int = 256
    accept_gzip: bool = True


@dataclass
class PhaseResult:
    """Latencies in ms over the measured requests (those due after the warm-up)."""

    rate: float
    duration_s: float
    sent: int
    ok: int
    statuses: dict[str, int]
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    achieved_per_s: float  # 2xx answers / the time from the first measured send to the last answer
    generator_cpu_s: float  # this process, user + system, over the measured part and the drain
    wall_s: float
    connections: int
    mean_bytes: float
    late_sends: int = 0  # requests the generator itself sent more than 1 ms after they were due
    p95_ms: float = math.nan
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def generator_cpu_share(self) -> float:
        """The generator's CPU as a share of one core."""
        return self.generator_cpu_s / self.wall_s if self.wall_s else 0.0


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``sorted_values`` (nearest rank); NaN when empty."""
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


class _Answer:
    """Parses one HTTP/1.1 response at a time out of a byte stream."""

    __slots__ = ("body_left", "buf", "chunked", "status", "total")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.body_left = -1  # -1: headers not parsed yet
        self.chunked = False
        self.total = 0

    def feed(self, data: bytes) -> bool:
        """Take ``data``; True once the current response is complete (then :meth:`reset`)."""
        self.buf += data
        if self.body_left < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            self.status = int(head[0].split(" ", 2)[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
            del self.buf[: end + 4]
            self.total = end + 4
            self.chunked = headers.get("transfer-encoding", "").lower() == "chunked"
            self.body_left = 0 if self.chunked else int(headers.get("content-length", "0"))
        if self.chunked:
            return self._chunks()
        if len(self.buf) < self.body_left:
            return False
        self.total += self.body_left
        del self.buf[: self.body_left]
        return True

    def _chunks(self) -> bool:
        while True:
            line_end = self.buf.find(b"\r\n")
            if line_end < 0:
                return False
            size = int(bytes(self.buf[:line_end]).split(b";")[0], 16)
            if len(self.buf) < line_end + 2 + size + 2:
                return False
            del self.buf[: line_end + 2 + size + 2]
            self.total += size
            if size == 0:
                return True


class _Conn(asyncio.Protocol):
    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.answer = _Answer()
        self.current = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of asyncio's
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, i: int) -> None:
        assert self.transport is not None
        self.current = i
        self.transport.write(self.gen.wire[i % len(self.gen.wire)])

    def data_received(self, data: bytes) -> None:
        if self.answer.feed(data):
            done, status, size = self.current, self.answer.status, self.answer.total
            self.answer.reset()
            self.current = -1
            self.gen.finished(self, done, status, size)
            if self.answer.buf:  # nothing should follow an answer we did not ask for
                self.answer.buf.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


class _Generator:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        encoding = b"Accept-Encoding: gzip\r\n" if spec.accept_gzip else b""
        self.wire = [
            (
                f"GET {path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\nAuthorization: Bearer {token}\r\n".encode()
                + encoding
                + b"\r\n"
            )
            for path, token in spec.requests
        ]
        self.n = int(spec.rate * (spec.warmup_s + spec.duration_s))
        self.start = 0.0
        self.done_at = [math.nan] * self.n
        self.status = [0] * self.n
        self.sizes = [0] * self.n
        self.idle: list[_Conn] = []
        self.waiting: deque[int] = deque()
        self.opened = 0
        self.connecting = 0
        self.outstanding = 0
        self.late = 0
        self.all_done = asyncio.Event()
        self.sending_done = False

    def due(self, i: int) -> float:
        return self.start + i / self.spec.rate

    def dispatch(self, i: int) -> None:
        self.outstanding += 1
        if self.idle:
            self.idle.pop().send(i)
            return
        self.waiting.append(i)
        if self.opened + self.connecting < self.spec.max_connections:
            self.connecting += 1
            asyncio.get_running_loop().create_task(self.open())

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Conn(self), self.spec.host, self.spec.port)
        finally:
            self.connecting -= 1
        self.opened += 1
        self.ready(conn)

    def ready(self, conn: _Conn) -> None:
        if self.waiting:
            conn.send(self.waiting.popleft())
        else:
            self.idle.append(conn)

    def finished(self, conn: _Conn, i: int, status: int, size: int) -> None:
        now = time.perf_counter()
        if i >= 0:
            self.done_at[i] = now
            self.status[i] = status
            self.sizes[i] = size
            self.outstanding -= 1
        self.ready(conn)
        if self.sending_done and self.outstanding == 0:
            self.all_done.set()

    def lost(self, conn: _Conn) -> None:
        self.opened -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.current >= 0:  # its request is lost: counted as a timeout
            self.outstanding -= 1
            conn.current = -1

    async def warm_connections(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            _, conn = await loop.create_connection(lambda: _Conn(self), self.spec.host, self.spec.port)
            self.opened += 1
            self.idle.append(conn)

    async def run(self) -> None:
        i = 0
        self.start = time.perf_counter() + 0.01
        while i < self.n:
            now = time.perf_counter()
            while i < self.n and self.due(i) <= now:
                if now - self.due(i) > 0.001:
                    self.late += 1
                self.dispatch(i)
                i += 1
            if i < self.n:
                await asyncio.sleep(max(0.0, self.due(i) - time.perf_counter()))
        self.sending_done = True
        if self.outstanding == 0:
            self.all_done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_done.wait(), _DRAIN_S)


def summarize(gen: _Generator, cpu_s: float, wall_s: float) -> PhaseResult:
    spec = gen.spec
    first = int(spec.rate * spec.warmup_s)
    measured = range(first, gen.n)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    timeouts = 0
    last = gen.due(first)
    ok = 0
    sizes = 0
    for i in measured:
        if math.isnan(gen.done_at[i]):
            timeouts += 1
            continue
        statuses[str(gen.status[i])] += 1
        latencies.append((gen.done_at[i] - gen.due(i)) * 1000)
        last = max(last, gen.done_at[i])
        sizes += gen.sizes[i]
        if 200 <= gen.status[i] < 300:
            ok += 1
    latencies.sort()
    span = last - gen.due(first)
    return PhaseResult(
        rate=spec.rate,
        duration_s=spec.duration_s,
        sent=len(measured),
        ok=ok,
        statuses=dict(statuses),
        timeouts=timeouts,
        p50_ms=percentile(latencies, 0.50),
        p90_ms=percentile(latencies, 0.90),
        p99_ms=percentile(latencies, 0.99),
        p999_ms=percentile(latencies, 0.999),
        max_ms=latencies[-1] if latencies else math.nan,
        achieved_per_s=ok / span if span > 0 else 0.0,
        generator_cpu_s=cpu_s,
        wall_s=wall_s,
        connections=gen.opened,
        mean_bytes=sizes / max(len(latencies), 1),
        late_sends=gen.late,
        p95_ms=percentile(latencies, 0.95),
        latencies_ms=latencies,
    )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _main(spec: LoadSpec) -> PhaseResult:
    gen = _Generator(spec)
    await gen.warm_connections(min(16, spec.max_connections))
    cpu, wall = _cpu_s(), time.perf_counter()
    await gen.run()
    return summarize(gen, _cpu_s() - cpu, time.perf_counter() - wall)


def run(spec: LoadSpec) -> PhaseResult:
    """One phase at ``spec.rate`` (in this process, on uvloop when installed)."""
    try:
        import uvloop

        return uvloop.run(_main(spec))
    except ImportError:  # pragma: no cover (uvloop ships with uvicorn[standard])
        return asyncio.run(_main(spec))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", type=Path, required=True, help="the phase, as JSON (see above)")
    p.add_argument("--out", type=Path, required=True, help="where the PhaseResult goes, as JSON")
    p.add_argument("--keep-latencies", action="store_true", help="write every latency too")
    args = p.parse_args()
    raw = json.loads(args.spec.read_text())
    spec = LoadSpec(**{**raw, "requests": [tuple(r) for r in raw["requests"]]})
    result = run(spec)
    out = asdict(result)
    if not args.keep_latencies:
        out.pop("latencies_ms")
    args.out.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
