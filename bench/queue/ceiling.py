"""The ceiling: Darkroom's enqueue, dequeue and settle scripts with no Python in the path.

The scripts are loaded whole (``scripts.source(name)``, exactly what the client loads) and
run with EVALSHA. ARGV comes from the client's own ``Core`` operations, so the layout always
matches the client. ``enqueue`` and ``dequeue`` are driven by ``redis-benchmark`` (50 clients,
pipelined; ``__rand_int__`` in message ids makes every enqueue a new message). ``settle`` needs
the (id, token) of each lease, which redis-benchmark cannot carry from one reply to the next
request, so its calls are written beforehand as raw protocol and replayed with
``redis-cli --pipe`` (one connection, fully pipelined).

Redis runs scripts one at a time, so one job costs the sum of its three scripts' times:
cycle jobs/s = 1 / (1/enqueue + 1/dequeue + 1/settle), each in jobs (messages) per second.
"""

from __future__ import annotations

import csv
import io
import math
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bench.queue.server import BenchRedis
from darkroom.queue import DEFAULT_LIMITS, NewMessage, RedisQueue
from darkroom.queue.core import Core
from darkroom.queue.instructions import Script
from darkroom.queue.keys import Keys
from darkroom.queue.models import Lease, Message, Settlement
from darkroom.queue.scripts import source

__all__ = ["Ceiling", "Prelude", "ScriptRate", "measure", "prelude_cost"]

QUEUE = "ceiling"
RAND = "__rand_int__"
FIELDS = ("payload",)  # what the benchmark's workers ask for


@dataclass
class ScriptRate:
    script: str
    batch: int
    calls_per_s: float
    usec_per_call: float  # Redis's own time per EVALSHA (INFO commandstats)
    commands_per_job: float  # commands run inside the script, per message

    @property
    def jobs_per_s(self) -> float:
        return self.calls_per_s * self.batch

    @property
    def usec_per_job(self) -> float:
        return self.usec_per_call / self.batch


@dataclass
class Ceiling:
    batch: int
    rates: list[ScriptRate] = field(default_factory=list)
    error: str | None = None

    def _combine(self, names: tuple[str, ...], per: str) -> float:
        picked = [r for r in self.rates if r.script in names]
        if len(picked) != len(names):
            return math.nan
        if per == "rate":
            return 1.0 / sum(1.0 / r.jobs_per_s for r in picked)
        return 1e6 / sum(r.usec_per_job for r in picked)

    @property
    def cycle_per_s(self) -> float:
        """Measured: enqueue + dequeue + complete of one job, wall clock through the socket."""
        return self._combine(("enqueue", "dequeue", "settle"), "rate")

    @property
    def process_per_s(self) -> float:
        """Measured: dequeue + complete only (what the processing rate is compared with)."""
        return self._combine(("dequeue", "settle"), "rate")

    @property
    def cycle_server_per_s(self) -> float:
        """If Redis did nothing but run the scripts: 1e6 / (script µs per job, summed)."""
        return self._combine(("enqueue", "dequeue", "settle"), "usec")


def _script(op: Any) -> Script:
    ins = next(op)
    assert isinstance(ins, Script), ins
    return ins


def _argv(ins: Script, sha: str) -> list[str]:
    out = ["EVALSHA", sha, "1", ins.key]
    for a in ins.args:
        out.append(a.decode() if isinstance(a, bytes) else str(a))
    return out


def _benchmark(redis: BenchRedis, argv: list[str], calls: int, clients: int, pipeline: int) -> float:
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port), "-a", redis.password]
    cmd += ["-c", str(clients), "-P", str(pipeline), "-n", str(calls), "-r", "2000000000", "--csv", *argv]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    rows = [r for r in csv.reader(io.StringIO(out)) if len(r) >= 2 and r[0] != "test"]
    return float(rows[-1][1])


def _resp(argv: list[str]) -> bytes:
    parts = [f"*{len(argv)}\r\n".encode()]
    for a in argv:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def _pipe(redis: BenchRedis, payload: Path) -> float:
    cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port), "-a", redis.password, "--no-auth-warning", "--pipe"]
    with payload.open("rb") as stdin:
        start = time.perf_counter()
        out = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, check=True, timeout=600).stdout
        seconds = time.perf_counter() - start
    match = re.search(r"errors: (\d+), replies: (\d+)", out)
    if not match or match.group(1) != "0":
        raise RuntimeError(f"redis-cli --pipe reported: {out.strip()[-200:]}")
    return seconds


def _rate(redis: BenchRedis, name: str, batch: int, *, calls_per_s: float, before: Any, calls: int) -> ScriptRate:
    delta = redis.counters() - before
    inner = delta.total_calls - delta.calls.get("evalsha", 0)
    return ScriptRate(
        name,
        batch,
        calls_per_s,
        delta.usec.get("evalsha", 0) / max(1, delta.calls.get("evalsha", 1)),
        inner / max(1, calls * batch),
    )


def measure(redis: BenchRedis, messages: int, batch: int) -> Ceiling:
    """Enqueue ``messages`` (``batch`` per call), dequeue ~90% of them, complete those."""
    result = Ceiling(batch)
    redis.flush()
    client = redis.client
    with RedisQueue(client) as q:
        q.create_queue(QUEUE, lease_s=3600.0)
    core = Core(Keys(), DEFAULT_LIMITS)
    sha = {n: str(client.script_load(source(n))) for n in ("enqueue", "dequeue", "settle")}
    clients, pipeline = (50, 16) if batch == 1 else (10, 4)

    # enqueue: ids m<12 random digits>, payload like the benchmark's (an epoch time)
    msgs = [NewMessage(b"1785000000.123456", id="m" + RAND) for _ in range(batch)]
    calls = messages // batch
    before = redis.counters()
    rps = _benchmark(redis, _argv(_script(core.enqueue_many(QUEUE, msgs)), sha["enqueue"]), calls, clients, pipeline)
    result.rates.append(_rate(redis, "enqueue", batch, calls_per_s=rps, before=before, calls=calls))

    # dequeue: leave a margin so no call finds the queue short
    pending = int(client.zcard(core.keys.prefix(QUEUE) + "pending"))
    calls = int(pending * 0.9) // batch
    deq = _script(core.dequeue(QUEUE, max_messages=batch, fields=FIELDS))
    before = redis.counters()
    rps = _benchmark(redis, _argv(deq, sha["dequeue"]), calls, clients, pipeline)
    result.rates.append(_rate(redis, "dequeue", batch, calls_per_s=rps, before=before, calls=calls))

    # settle: the leases that are running now, completed `batch` per call
    prefix = core.keys.prefix(QUEUE)
    ids = [s.decode()[16:] for s in client.zrange(prefix + "running", 0, -1)]
    pipe = client.pipeline(transaction=False)
    for mid in ids:
        pipe.hget(prefix + "m:" + mid, "tok")
    tokens = [int(t) for t in pipe.execute()]
    leases = [Lease(QUEUE, Message(mid, QUEUE), tok, 0.0) for mid, tok in zip(ids, tokens, strict=True)]
    calls = len(leases) // batch
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "settle.resp"
        with path.open("wb") as fh:
            for i in range(calls):
                chunk = leases[i * batch : (i + 1) * batch]
                ins = _script(core.settle([Settlement.complete(lease) for lease in chunk]))
                fh.write(_resp(_argv(ins, sha["settle"])))
        before = redis.counters()
        seconds = _pipe(redis, path)
    result.rates.append(_rate(redis, "settle", batch, calls_per_s=calls / seconds, before=before, calls=calls))
    return result


@dataclass
class Prelude:
    """Cost of running the shared prelude (``_lib.lua``) on every call, by itself."""

    empty_usec: float
    prelude_usec: float


def prelude_cost(redis: BenchRedis, calls: int = 100_000) -> Prelude:
    """Redis µs per EVALSHA of ``return 0`` and of ``_lib.lua`` followed by ``return 0``."""
    client = redis.client
    lib = resources.files("darkroom.queue").joinpath("lua", "_lib.lua").read_text(encoding="utf-8")
    out = []
    for text in ("return 0", lib + "\nreturn 0"):
        sha = str(client.script_load(text))
        before = redis.counters()
        _benchmark(redis, ["EVALSHA", sha, "1", "{p}:x"], calls, 50, 16)
        delta = redis.counters() - before
        out.append(delta.usec.get("evalsha", 0) / max(1, delta.calls.get("evalsha", 1)))
    return Prelude(out[0], out[1])
