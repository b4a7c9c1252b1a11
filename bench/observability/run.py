"""What the Redis health collector costs the Redis it watches (``make bench-observability``).

A private redis-server holding a platform's worth of keys (queues with messages in each state, an
events stream with a consumer group, feeds, rate-limit keys) serves a steady open-loop load from
its own process (50 SET and 50 GET of small values, a pipelined batch every 10 ms); the run alternates
windows without the collector and windows with it sampling once a second (``RedisSampler``, as
``darkroom up``'s health watch and the queue service's ``/metrics`` use it). Per window: Redis's
CPU (``used_cpu_sys + used_cpu_user`` deltas) and the load's round-trip latency; the goal is that
the collector adds at most 1 % of a core to Redis's CPU and 1 % to the load's latency. Results go to docs/benchmarks.md.

    make bench-observability ARGS="--windows 3 --window-s 20"
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

import darkroom.queue as dq
from bench.queue import machine
from bench.queue.report import replace_section
from bench.queue.server import BenchRedis
from darkroom.config import Settings
from darkroom.observability import RedisSampler
from darkroom.platform.health import key_layout
from darkroom.social import keys as social_keys

REPO = Path(__file__).resolve().parents[2]
START = "<!-- bench-observability:start (written by `make bench-observability`; edits inside are overwritten) -->"
END = "<!-- bench-observability:end -->"
GOAL = 0.01


@dataclass
class Window:
    sampling: bool
    seconds: float
    redis_cpu_s: float
    commands: int
    p50_ms: float
    p99_ms: float
    other_usec: int  # Redis's time in commands other than the load's SET and GET (the collector's)

    @property
    def cpu_share(self) -> float:
        return self.redis_cpu_s / self.seconds


def _populate(url: str, settings: Settings) -> None:
    """Queues with messages ready, delayed and running, an events stream with a lagging group,
    5,000 feeds and 2,000 rate-limit keys."""
    queue = dq.RedisQueue.from_url(url, namespace=settings.namespace)
    try:
        for q in ("probe", "encode", "package", "images"):
            queue.create_queue(q)
            queue.enqueue_many(q, [dq.NewMessage(payload=b"x" * 64) for _ in range(500)])
            queue.enqueue_many(q, [dq.NewMessage(payload=b"x", delay_s=3600) for _ in range(100)])
            queue.dequeue(q, max_messages=50, lease_s=3600)
    finally:
        queue.close()
    client = redis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    for i in range(5_000):
        pipe.zadd(social_keys.feed(f"acct{i:05d}"), {f"post{j}": j for j in range(20)})
    for i in range(2_000):
        pipe.set(f"http:rl:ip:10.0.{i // 250}.{i % 250}", 1, ex=3600)
    for i in range(10_000):
        pipe.xadd(social_keys.EVENTS, {"type": "post.viewed", "n": str(i)})
    pipe.execute()
    client.xgroup_create(social_keys.EVENTS, "analytics", id="0")
    client.close()


def _load(url: str, stop_at: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """A pipelined batch of 20 SET/GET every 10 ms until ``stop_at``; each batch's round trip."""
    client = redis.Redis.from_url(url)
    times: list[float] = []
    due = time.monotonic()
    n = 0
    while due < stop_at:
        due += 0.01
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        began = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for k in range(50):
            pipe.set(f"load:{(n + k) % 1000}", b"v" * 100)
            pipe.get(f"load:{(n + k + 500) % 1000}")
        pipe.execute()
        times.append((time.perf_counter() - began) * 1000)
        n += 50
    client.close()
    out.put(times)


def _cpu_and_commands(client: redis.Redis) -> tuple[float, int, int]:
    """Redis's CPU seconds, commands processed, and µs spent in commands other than SET and GET."""
    cpu = client.info("cpu")
    stats = client.info("stats")
    per_command = client.info("commandstats")
    other = sum(int(v["usec"]) for k, v in per_command.items() if k not in ("cmdstat_set", "cmdstat_get"))
    return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]), int(stats["total_commands_processed"]), other


def _window(server: BenchRedis, settings: Settings, seconds: float, *, sampling: bool) -> Window:
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    stop_at = time.monotonic() + seconds
    load = multiprocessing.Process(target=_load, args=(server.url, stop_at, results))
    stop = threading.Event()
    sampler = RedisSampler.from_url(server.url, layout=key_layout(settings)) if sampling else None

    def sample_every_second() -> None:
        assert sampler is not None
        while not stop.wait(1.0):
            sampler.sample()

    watcher = threading.Thread(target=sample_every_second, daemon=True)
    cpu0, commands0, other0 = _cpu_and_commands(server.client)
    began = time.monotonic()
    load.start()
    if sampler is not None:
        sampler.sample()  # the first sample reads the config and counts the keys, as at start
        watcher.start()
    times: list[float] = results.get()
    load.join()
    stop.set()
    if sampler is not None:
        watcher.join()
        sampler.close()
    elapsed = time.monotonic() - began
    cpu1, commands1, other1 = _cpu_and_commands(server.client)
    ordered = sorted(times)
    return Window(
        sampling,
        elapsed,
        cpu1 - cpu0,
        commands1 - commands0,
        statistics.median(ordered),
        ordered[int(len(ordered) * 0.99) - 1],
        other1 - other0,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=3, help="pairs of windows (without, with the collector)")
    p.add_argument("--window-s", type=float, default=20.0, help="seconds per window")
    p.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = p.parse_args()
    settings = Settings.from_env({})
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-observability-") as tmp:
        server = BenchRedis(Path(tmp) / "redis").start()
        try:
            about = machine.describe(server.version(), bench="observability")
            _populate(server.url, settings)
            windows: list[Window] = []
            for n in range(args.windows):
                for sampling in (False, True):
                    w = _window(server, settings, args.window_s, sampling=sampling)
                    windows.append(w)
                    print(
                        f"window {n + 1} {'with' if sampling else 'without'} the collector: Redis CPU "
                        f"{w.cpu_share:.2%} of a core, p50 {w.p50_ms:.3f} ms, p99 {w.p99_ms:.3f} ms",
                        flush=True,
                    )
        finally:
            server.stop()
    text = _markdown(about, args, windows, time.monotonic() - began)
    print(text)
    if not args.no_write:
        replace_section(REPO / "docs" / "benchmarks.md", START, END, text)


def _markdown(about: machine.Machine, args: argparse.Namespace, windows: list[Window], seconds: float) -> str:
    off = [w for w in windows if not w.sampling]
    on = [w for w in windows if w.sampling]
    cpu_off = sum(w.redis_cpu_s for w in off) / sum(w.seconds for w in off)
    cpu_on = sum(w.redis_cpu_s for w in on) / sum(w.seconds for w in on)
    added_cpu = (cpu_on - cpu_off) / cpu_off
    p50_off, p50_on = statistics.median(w.p50_ms for w in off), statistics.median(w.p50_ms for w in on)
    p99_off, p99_on = statistics.median(w.p99_ms for w in off), statistics.median(w.p99_ms for w in on)
    # the share of the time Redis is busy with the collector's commands: the most a request can be
    # held up by it on average (measured latencies move more than that between windows of one setup)
    busy_off = sum(w.other_usec for w in off) / sum(w.seconds for w in off) / 1e6
    busy_on = sum(w.other_usec for w in on) / sum(w.seconds for w in on) / 1e6
    busy = busy_on - busy_off
    lines = [
        START,
        "## Observability: what the Redis health collector costs (`make bench-observability`)",
        "",
        f"- **Date:** {about.date}; {seconds / 60:.1f} min",
        f"- **Command:** `{about.command}`",
        f"- **Machine:** {about.cores} cores ({about.cpu}); load average at start {about.load_at_start}; "
        f"redis-server {about.redis}; code {about.commit}",
        "- **How:** a private redis-server with a platform's keys (4 queues of 600 messages in three states, "
        "an events stream of 10,000 entries with a consumer group, 5,000 feeds, 2,000 rate-limit keys) serves "
        "an open-loop load from its own process (a pipelined batch of 50 SET and 50 GET every 10 ms: "
        "10,000 commands a second); "
        f"{args.windows} pairs of {args.window_s:g} s windows, without and with the collector sampling once a "
        "second (`RedisSampler`: one pipelined INFO, LATENCY LATEST, SLOWLOG, MEMORY STATS, 5 PINGs, the "
        "queues' depths and the stream's groups; the key census by SCAN once a minute).",
        "",
        "| target | goal | measured | result |",
        "|---|---|---|---|",
        f"| Redis CPU added by sampling once a second | ≤ 1 % of a core | {cpu_on - cpu_off:+.2%} of a core "
        f"({cpu_off:.2%} → {cpu_on:.2%}; {added_cpu:+.1%} of this load's) | "
        f"**{'PASS' if cpu_on - cpu_off <= GOAL else 'FAIL'}** |",
        f"| latency: the share of the time Redis is busy with the collector's commands | ≤ 1 % | {busy:.3%} "
        f"({busy * 1e6:.0f} µs a second) | **{'PASS' if busy <= GOAL else 'FAIL'}** |",
        "",
        f"The load's own round trips, medians of the windows: p50 {p50_off:.3f} ms without the collector and "
        f"{p50_on:.3f} ms with it, p99 {p99_off:.3f} and {p99_on:.3f} ms; windows of one setup differ by more than "
        "the collector could add (the table below), so the target is judged on the time Redis spends on it.",
        "",
        "| window | collector | seconds | Redis CPU, share of a core | commands | µs in other commands | load p50 ms "
        "| load p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, w in enumerate(windows):
        lines.append(
            f"| {i // 2 + 1} | {'sampling 1/s' if w.sampling else 'off'} | {w.seconds:.1f} | {w.cpu_share:.2%} | "
            f"{w.commands:,} | {w.other_usec:,} | {w.p50_ms:.3f} | {w.p99_ms:.3f} |"
        )
    lines += ["", END, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
