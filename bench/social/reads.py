"""The read benchmarks: ``GET /v1/feed`` per feed design and ``GET /v1/posts/{id}`` with and
without ``fields=``, each served by a fresh ``darkroom http`` (:mod:`.server`) and driven by the
open-loop generator in its own process (:mod:`.load`), at a ladder of rates.

Each server first gets a warm-up at the lowest rate (the post cache and PostgreSQL's buffers fill
as they would in a running service), then each rate runs for ``duration_s``. Beside the
generator's latencies every phase records the CPU the server process, its PostgreSQL backends
and Redis spent per request, and the load average when it started (other work shares the cores).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

from bench.queue.server import BenchRedis
from bench.social import feeds, profile
from bench.social.dataset import Dataset
from bench.social.load import LoadSpec, PhaseResult
from bench.social.server import ApiServer, cpu_s, tree_cpu_s
from darkroom.config import Settings
from darkroom.social.feed import FeedConfig, FeedDesign

__all__ = ["Phase", "ProfilePlan", "ReadPlan", "Series", "measure_feeds", "measure_posts", "run_load", "run_phases"]

POST_FIELDS = "id,caption,like_count,comment_count,created_at"


@dataclass(frozen=True)
class ReadPlan:
    rates: list[float]
    duration_s: float
    warmup_s: float
    max_connections: int = 256
    workers: int = 1  # darkroom http --workers


@dataclass(frozen=True)
class ProfilePlan:
    """py-spy on the hybrid design's server, ``seconds`` at ``rate`` (one the server keeps up with)."""

    py_spy: str
    rate: float
    seconds: float


@dataclass
class Phase:
    result: PhaseResult
    load_avg: float  # 1-minute load average when the phase started
    server_cpu_ms: float  # per answered request
    postgres_cpu_ms: float
    redis_cpu_ms: float


@dataclass
class Series:
    """One server configuration at each rate of the plan."""

    label: str
    key: str  # feed design or posts variant
    phases: list[Phase]
    setup_s: float = 0.0  # building what the design reads in Redis before the server starts
    profile: profile.Profile | None = None


def run_load(spec: LoadSpec, workdir: Path) -> PhaseResult:
    """One phase in a generator process of its own."""
    spec_file, out = workdir / "spec.json", workdir / "result.json"
    spec_file.write_text(json.dumps(asdict(spec)))
    subprocess.run(
        [sys.executable, "-m", "bench.social.load", "--spec", str(spec_file), "--out", str(out)],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    raw = json.loads(out.read_text())
    return PhaseResult(**raw)


class _PostgresCpu:
    """CPU seconds the data set database's backends spend while it runs: their pids are sampled
    every ``every_s`` (the server's pool opens and closes overflow connections as load changes, so
    a backend may come and go within a phase; one shorter than a sample is missed)."""

    def __init__(self, url: str, every_s: float = 0.25) -> None:
        self.url, self.every_s = url, every_s
        self.name = url.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _PostgresCpu:
        self._conn = psycopg.connect(self.url, autocommit=True)
        self._sample(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._conn.close()

    @property
    def seconds(self) -> float:
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def _sample(self, *, initial: bool = False) -> None:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.name]
        ).fetchall()
        for (pid,) in rows:
            with contextlib.suppress(OSError):  # gone meanwhile
                used = cpu_s(int(pid))
                if initial:
                    self.first[int(pid)] = used
                self.last[int(pid)] = used


def run_phases(
    server: ApiServer,
    dataset: Dataset,
    redis: BenchRedis,
    requests: list[tuple[str, str]],
    plan: ReadPlan,
    workdir: Path,
    progress: Callable[[str], None],
    label: str,
) -> list[Phase]:
    def spec(rate: float, duration_s: float) -> LoadSpec:
        return LoadSpec("127.0.0.1", server.port, rate, duration_s, requests, max_connections=plan.max_connections)

    progress(f"{label}: warm-up {plan.warmup_s:.0f} s at {plan.rates[0]:,.0f}/s")
    run_load(spec(plan.rates[0], plan.warmup_s), workdir)
    out: list[Phase] = []
    for rate in plan.rates:
        _settle(server.pid, tree=plan.workers > 1)
        redis.wait_aof_rewrite()
        load = os.getloadavg()[0]
        server_before, redis_before = tree_cpu_s(server.pid), redis.counters().cpu_s
        with _PostgresCpu(dataset.url) as postgres:
            result = run_load(spec(rate, plan.duration_s), workdir)
        per = 1000 / max(result.ok, 1)
        server_ms = (tree_cpu_s(server.pid) - server_before) * per
        redis_ms = (redis.counters().cpu_s - redis_before) * per
        out.append(Phase(result, load, server_ms, postgres.seconds * per, redis_ms))
        progress(
            f"{label} @ {rate:,.0f}/s: p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
            f"achieved {result.achieved_per_s:,.0f}/s (load {load:.1f})"
        )
    return out


def _settle(pid: int, timeout_s: float = 60.0, *, tree: bool = False) -> None:
    """Wait until the server is idle (below 10 % of a core): an overloaded phase leaves a backlog
    the server works off after the generator has gone, which must not land in the next phase."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        used = tree_cpu_s if tree else cpu_s
        before = used(pid)
        time.sleep(0.5)
        if used(pid) - before < 0.05:
            return


def _viewers(dataset: Dataset, seed: int) -> list[str]:
    tokens = [dataset.world.token(int(a)) for a in dataset.world.active_accounts()]
    random.Random(seed).shuffle(tokens)
    return tokens


def measure_feeds(
    dataset: Dataset,
    redis: BenchRedis,
    designs: list[FeedDesign],
    plan: ReadPlan,
    home: Path,
    *,
    progress: Callable[[str], None],
    profiling: ProfilePlan | None = None,
) -> list[Series]:
    """``GET /v1/feed`` (20 posts) as each design reads it, by random active viewers; with
    ``profiling``, py-spy on the hybrid design's server after its phases."""
    world, config = dataset.world, FeedConfig.from_settings(Settings.from_env())
    tokens = _viewers(dataset, world.scale.seed)
    requests = [("/v1/feed", t) for t in tokens]
    redis.flush()
    progress("recent posts of every author")
    feeds.build_author_posts(redis.client, world, config)
    series: list[Series] = []
    built: FeedDesign | None = None
    for design in designs:
        setup = 0.0
        if design in (FeedDesign.HYBRID, FeedDesign.PUSH) and built is not design:
            progress(f"{design}: building {len(tokens):,} feeds")
            setup = feeds.build_feeds(redis.client, world, world.active_accounts(), design, config).seconds
            built = design
        server = ApiServer(home, dataset.url, redis.url, design, workers=plan.workers).start(tokens[0])
        found: profile.Profile | None = None
        try:
            with tempfile.TemporaryDirectory(prefix="load-") as work:
                phases = run_phases(server, dataset, redis, requests, plan, Path(work), progress, str(design))
                if profiling is not None and design is FeedDesign.HYBRID:
                    progress(f"profiling {design} at {profiling.rate:,.0f}/s for {profiling.seconds:.0f} s")
                    found = _profile(server, requests, profiling, plan, Path(work))
        finally:
            server.stop()
        series.append(Series(_FEED_LABELS[design], str(design), phases, setup, found))
    return series


def _profile(
    server: ApiServer, requests: list[tuple[str, str]], plan: ProfilePlan, read: ReadPlan, work: Path
) -> profile.Profile:
    _settle(
        server.pid, tree=read.workers > 1
    )  # after an overloaded phase the server may still be working off its backlog
    raw = work / "profile.txt"
    spy = profile.record(plan.py_spy, server.pid, plan.seconds + 2, raw, subprocesses=read.workers > 1)
    spec = LoadSpec(
        "127.0.0.1", server.port, plan.rate, plan.seconds, requests, warmup_s=1, max_connections=read.max_connections
    )
    result = run_load(spec, work)
    spy.wait()
    if spy.returncode != 0 or not raw.exists():
        return profile.Profile(error=f"py-spy exited with {spy.returncode}")
    kept = Path(__file__).resolve().parents[1] / "results" / "social-feed-profile.txt"  # git-ignored
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(raw, kept)
    # the recording spans the whole phase (warm-up included) and a little more
    return profile.summarize(raw, result.sent + int(plan.rate), plan.seconds + 1)


_FEED_LABELS = {
    FeedDesign.HYBRID: "hybrid (push, celebrities pulled)",
    FeedDesign.PUSH: "push only",
    FeedDesign.PULL: "pull only",
    FeedDesign.SQL: "plain SQL join",
}


def measure_posts(
    dataset: Dataset,
    redis: BenchRedis,
    plan: ReadPlan,
    home: Path,
    *,
    recent: int,
    progress: Callable[[str], None],
) -> list[Series]:
    """``GET /v1/posts/{id}``, whole and with ``fields=``, of random posts among the newest
    ``recent``, by random active viewers."""
    world = dataset.world
    rng = random.Random(world.scale.seed + 10)
    tokens = _viewers(dataset, world.scale.seed + 11)
    newest = len(world.post_ids)
    picks = [world.post_id(rng.randrange(max(0, newest - recent), newest)) for _ in range(20_000)]
    series: list[Series] = []
    server = ApiServer(home, dataset.url, redis.url, FeedDesign.HYBRID, workers=plan.workers).start(tokens[0])
    try:
        for key, label, query in (
            ("whole", "whole post (author, media…)", ""),
            ("fields", f"fields={POST_FIELDS}", f"?fields={POST_FIELDS}"),
        ):
            requests = [(f"/v1/posts/{p}{query}", tokens[i % len(tokens)]) for i, p in enumerate(picks)]
            with tempfile.TemporaryDirectory(prefix="load-") as work:
                phases = run_phases(server, dataset, redis, requests, plan, Path(work), progress, f"posts {key}")
            series.append(Series(label, key, phases))
    finally:
        server.stop()
    return series
