"""``make bench-social``: the social product under load, written to docs/benchmarks.md ("Social").

    python -m bench.social.run                       # everything (about 25 minutes; the data set is
                                                     # loaded once, ~2.5 min, then cached in PostgreSQL)
    python -m bench.social.run --quick               # a toy scale, a smoke run of every stage
    python -m bench.social.run --only feed posts     # some stages: memory feed posts visible fanout
    python -m bench.social.run --no-write            # print only

Stages: ``memory`` (Redis memory of the feeds by active share), ``feed`` (``GET /v1/feed`` per
design, side by side; py-spy on the hybrid server when py-spy is found), ``posts``
(``GET /v1/posts/{id}``, whole and with ``fields=``), ``visible`` (upload finished to a follower's
feed on a real platform), ``fanout`` (the first cut: one author's post into 10,000 feeds, beside
Stream-Framework). The data set lives in PostgreSQL (``--postgres-url``, the local server by
default) under a name made of the generator's version and the scale; each stage gets its own
private redis-server. Writes the "Social" section of docs/benchmarks.md (unless ``--no-write``)
and bench/results/social-latest.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from rich.console import Console

from bench.queue import machine
from bench.queue.report import replace_section
from bench.queue.server import BenchRedis
from bench.social import dataset, fanout, feeds, reads, report, visible
from bench.social.profile import find_py_spy
from bench.social.world import Scale, World
from darkroom.config import Settings
from darkroom.social.feed import FeedConfig, FeedDesign
from darkroom.storage.db import open_database

REPO = Path(__file__).resolve().parents[2]
STAGES = ["memory", "feed", "posts", "visible", "fanout"]
FULL = Scale()
QUICK = Scale(accounts=2000, follows=100_000, posts=20_000)
QUICK_CELEBRITY = 500  # at the toy scale nobody reaches 10,000 followers
SWEEP = [100, 250, 500, 1000, 2000, 5000, 10_000]


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a toy scale and short phases: a smoke run")
    p.add_argument("--only", nargs="+", choices=STAGES, default=STAGES, help="the stages to run")
    p.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    p.add_argument("--postgres-url", default=dataset.LOCAL_SERVER, help="the PostgreSQL server of the data set")
    p.add_argument("--database-url", default="", help="fan-out stage's metadata (default: SQLite in a temp dir)")
    p.add_argument("--feed-rates", type=float, nargs="+", help="GET /v1/feed rates (default 50 75 100 500)")
    p.add_argument("--post-rates", type=float, nargs="+", help="GET /v1/posts rates (default 100 150 250 1000)")
    p.add_argument("--duration", type=float, help="seconds per rate (default 15)")
    p.add_argument(
        "--http-workers", type=int, default=os.cpu_count() or 1, help="darkroom http --workers (default: one per core)"
    )
    p.add_argument("--warmup", type=float, help="warm-up seconds per server (default 10)")
    p.add_argument("--samples", type=int, help="upload-to-visible photos (default 20)")
    p.add_argument("--py-spy", default="", help="py-spy to profile the feed route with (default: found)")
    p.add_argument(
        "--designs",
        nargs="+",
        choices=[str(d) for d in FeedDesign],
        default=[str(d) for d in FeedDesign],
        help="the feed designs to serve (default: all four, side by side)",
    )
    return p.parse_args()


def world_facts(world: World, config: FeedConfig, sample: int = 1000) -> report.WorldFacts:
    d = world.in_degree
    viewers = world.active_accounts()[:sample]
    celeb = d > config.celebrity_followers
    hybrid = [len(feeds.feed_posts(world, int(v), cap=config.feed_cap, celebrity_above=config.celebrity_followers))
              for v in viewers]  # fmt: skip
    push = [len(feeds.feed_posts(world, int(v), cap=config.feed_cap, celebrity_above=None)) for v in viewers]
    return report.WorldFacts(
        accounts=world.scale.accounts,
        follows=len(world.follower),
        posts=world.scale.posts,
        active=len(world.active_accounts()),
        max_followers=int(d.max()),
        followed_by_all=int((d >= world.scale.accounts - 1).sum()),
        above_100k=int((d >= 100_000).sum()),
        celebrities=int(celeb.sum()),
        celebrity_threshold=config.celebrity_followers,
        mean_following=float(world.out_degree.mean()),
        mean_celebrities_followed=float(np.mean([celeb[world.followees(int(v))].sum() for v in viewers])),
        mean_hybrid_feed=float(np.mean(hybrid)),
        mean_push_feed=float(np.mean(push)),
    )


def _memory(res: report.Results, ds: dataset.Dataset, tmp: Path, say: Callable[[str], None]) -> None:
    config = FeedConfig.from_settings(Settings.from_env())
    server = BenchRedis(tmp / "redis-memory").start()
    try:
        client = server.client
        base = int(client.info("memory")["used_memory"])
        say("memory: every author's recent posts")
        res.author_posts = feeds.build_author_posts(client, ds.world, config)
        res.author_posts_bytes = int(client.info("memory")["used_memory"]) - base
        client.flushall()
        say("memory: hybrid feeds at 5, 10, 20 % active")
        res.memory = feeds.measure_growth(client, ds.world, [0.05, 0.10, 0.20], config)
        share = ds.world.scale.active_share
        client.flushall()
        say("memory: push-only feeds")
        (push,) = feeds.measure_growth(client, ds.world, [share], config, design=FeedDesign.PUSH)
        client.flushall()
        default = client.config_get("zset-max-listpack-entries")["zset-max-listpack-entries"]
        client.config_set("zset-max-listpack-entries", 1024)
        say("memory: hybrid feeds as listpacks")
        try:
            (packed,) = feeds.measure_growth(client, ds.world, [share], config)
        finally:
            client.config_set("zset-max-listpack-entries", default)
        res.memory_variants = [
            _labelled(push, f"push only, {share:.0%} active"),
            _labelled(packed, f"hybrid, {share:.0%} active, `zset-max-listpack-entries 1024`"),
        ]
        client.flushall()
    finally:
        server.stop()


def _labelled(p: feeds.MemoryPoint, label: str) -> feeds.MemoryPoint:
    return feeds.MemoryPoint(p.share, p.feeds, p.entries, p.bytes_total, label)


def _fanout(res: report.Results, args: argparse.Namespace, tmp: Path, say: Callable[[str], None]) -> None:
    followers, posts_n, sweep_posts, sample = (2000, 5, 2, 200) if args.quick else (10_000, 20, 5, 1000)
    server = BenchRedis(tmp / "redis-fanout").start()
    engine = open_database(args.database_url or f"sqlite:///{tmp}/fanout.db")
    try:
        say(f"fan-out: seeding {followers:,} followers")
        world = fanout.seed(engine, followers)
        batch = FeedConfig().batch_keys

        def tick() -> None:
            pass

        main_run = fanout.measure_fanout(engine, server, world, posts_n=posts_n, batch_keys=batch, progress=tick)
        full_run = fanout.measure_fanout(
            engine, server, world, posts_n=sweep_posts, batch_keys=batch, progress=tick, entries=800
        )
        say(f"fan-out: batch sweep {SWEEP}")
        sweep = fanout.sweep(engine, server, world, sizes=SWEEP, posts_n=sweep_posts, progress=tick)
        celebrity_s = fanout.measure_celebrity(engine, server, world)
        memory = fanout.measure_memory(server, followers, sample)
    finally:
        engine.dispose()
        server.stop()
    database = (args.database_url or "sqlite").split(":", maxsplit=1)[0]
    res.fanout = report.FanoutResults(followers, posts_n, sweep_posts, database, [main_run, full_run], sweep,
                                      celebrity_s, memory)  # fmt: skip


def _postgres_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split(" ")[0] if row else "unknown"


def _plain(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in asdict(obj).items() if k not in ("world", "latencies_ms")}
    if isinstance(obj, list):
        return [_plain(x) for x in obj]
    return obj


def main() -> None:
    args = _parse()
    console = Console()
    began = time.monotonic()
    scale = QUICK if args.quick else FULL
    if args.quick:
        os.environ.setdefault("DARKROOM_FEED_CELEBRITY_FOLLOWERS", str(QUICK_CELEBRITY))
    duration = args.duration or (5.0 if args.quick else 15.0)
    warmup = args.warmup or (3.0 if args.quick else 10.0)
    feed_rates = args.feed_rates or ([20.0, 50.0] if args.quick else [50.0, 75.0, 100.0, 500.0])
    post_rates = args.post_rates or ([50.0, 100.0] if args.quick else [100.0, 150.0, 250.0, 1000.0])
    samples = args.samples or (3 if args.quick else 20)

    def say(message: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}")

    with tempfile.TemporaryDirectory(prefix="bench-social-") as tmp_name:
        tmp = Path(tmp_name)
        probe = BenchRedis(tmp / "redis-probe").start()
        about = machine.describe(probe.version(), bench="social")
        probe.stop()
        note = (f"{scale.accounts:,} accounts, {scale.follows:,} follows, {scale.posts:,} posts, "
                f"{scale.active_share:.0%} active; feed rates {'/'.join(f'{r:g}' for r in feed_rates)}, post rates "
                f"{'/'.join(f'{r:g}' for r in post_rates)} per s, {duration:g} s each after {warmup:g} s of "
                f"warm-up; {samples} photos")  # fmt: skip
        res = report.Results(about, _postgres_version(dataset.libpq_url(args.postgres_url)), note)
        res.skipped = [s for s in STAGES if s not in args.only]
        res.http_workers = args.http_workers
        needs_data = {"memory", "feed", "posts"} & set(args.only)
        ds: dataset.Dataset | None = None
        if needs_data:
            say(f"data set {dataset.database_name(scale)}")
            ds = dataset.ensure(scale, args.postgres_url, progress=say)
            res.dataset = ds
            res.world = world_facts(ds.world, FeedConfig.from_settings(Settings.from_env()))
            say(f"data set {'cached' if ds.cached else 'loaded'} ({ds.load_s:.0f} s to load)")
        if "memory" in args.only and ds is not None:
            _memory(res, ds, tmp, say)
        plan = reads.ReadPlan(feed_rates, duration, warmup, workers=args.http_workers)
        home = tmp / "home"
        home.mkdir()
        if "feed" in args.only and ds is not None:
            spy = find_py_spy(args.py_spy)
            profiling = reads.ProfilePlan(spy, feed_rates[0], duration) if spy else None
            if spy is None:
                say("py-spy not found (make bench-queue installs it; or --py-spy): the feed route is not profiled")
            server = BenchRedis(tmp / "redis-feed").start()
            try:
                designs = [FeedDesign(d) for d in args.designs]
                res.feeds = reads.measure_feeds(ds, server, designs, plan, home, progress=say, profiling=profiling)
            finally:
                server.stop()
        if "posts" in args.only and ds is not None:
            server = BenchRedis(tmp / "redis-posts").start()
            try:
                post_plan = reads.ReadPlan(post_rates, duration, warmup, workers=args.http_workers)
                res.posts = reads.measure_posts(ds, server, post_plan, home, recent=100_000, progress=say)
            finally:
                server.stop()
        if "visible" in args.only:
            res.visible = visible.measure_visible(tmp / "platform", samples, progress=say)
        if "fanout" in args.only:
            _fanout(res, args, tmp, say)
    res.seconds = time.monotonic() - began
    text = report.markdown(res)
    print(text)
    out = REPO / "bench" / "results" / "social-latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_plain(res), indent=2, default=str))
    if not args.no_write:
        replace_section(REPO / "docs" / "benchmarks.md", report.START, report.END, text)


if __name__ == "__main__":
    main()
