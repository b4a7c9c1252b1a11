"""The web app's page speed on the social benchmark's data set (``make bench-web``).

The home page (``GET /``, the feed of 20 posts as HTML: the hybrid feed, the post cache's
hydration, the latest comments of the page in one statement, the template) and the JSON feed it
is built on (``GET /v1/feed``) side by side, by random active viewers, at a few open-loop rates:
the latency of a lightly loaded server is its server time (the generator runs on the same
machine, so it also holds the loopback round trip). Then what the first page ships: the JS and CSS
its HTML links, as sent (gzip) and whole. Results go to docs/benchmarks.md between this
benchmark's markers.

    make bench-web ARGS="--rates 20 50 --duration 10"
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from bench.queue import machine
from bench.queue.report import replace_section
from bench.queue.server import BenchRedis
from bench.social import dataset, feeds, reads
from bench.social.server import ApiServer
from bench.social.world import Scale
from darkroom.config import Settings
from darkroom.social.feed import FeedConfig, FeedDesign

REPO = Path(__file__).resolve().parents[2]
START = "<!-- bench-web:start (written by `make bench-web`; edits inside are overwritten) -->"
END = "<!-- bench-web:end -->"
TARGET_P95_MS = 30.0
BUDGET_BYTES = 150_000
_LINKED = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="(/static/[^"]+\.(?:js|mjs|css))"')


@dataclass
class Weight:
    """What a page's HTML links (scripts, style sheets, module preloads) and their sizes."""

    files: list[str] = field(default_factory=list)
    raw_bytes: int = 0
    gzip_bytes: int = 0


def page_weight(base: str, token: str) -> Weight:
    """The JS and CSS the first feed page links, fetched as a browser would (gzip asked)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        html = client.get("/").text
        out = Weight()
        for path in sorted(set(_LINKED.findall(html))):
            body = client.get(path, headers={"Accept-Encoding": "identity"}).content
            out.files.append(path.rsplit("/", 1)[1])
            out.raw_bytes += len(body)
            out.gzip_bytes += len(gzip.compress(body, 6))
        return out


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", type=float, nargs="+", default=[20.0, 50.0, 100.0], help="requests/s of each phase")
    p.add_argument("--duration", type=float, default=15.0, help="seconds per rate")
    p.add_argument("--warmup", type=float, default=10.0, help="warm-up seconds at the first rate")
    p.add_argument("--http-workers", type=int, default=os.cpu_count() or 1, help="darkroom http --workers")
    p.add_argument("--postgres-url", default=dataset.LOCAL_SERVER, help="the PostgreSQL server of the data set")
    p.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    return p.parse_args()


def main() -> None:
    args = _parse()
    console = Console()

    def say(message: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", markup=False, highlight=False)

    began = time.monotonic()
    scale = Scale()
    config = FeedConfig.from_settings(Settings.from_env())
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp_name:
        tmp = Path(tmp_name)
        ds = dataset.ensure(scale, args.postgres_url, progress=say)
        redis = BenchRedis(tmp / "redis").start()
        about = machine.describe(redis.version(), bench="web")
        home = tmp / "home"
        home.mkdir()
        try:
            world = ds.world
            tokens = [world.token(int(a)) for a in world.active_accounts()]
            say(f"recent posts of every author; {len(tokens):,} hybrid feeds")
            feeds.build_author_posts(redis.client, world, config)
            feeds.build_feeds(redis.client, world, world.active_accounts(), FeedDesign.HYBRID, config)
            plan = reads.ReadPlan(args.rates, args.duration, args.warmup, workers=args.http_workers)
            server = ApiServer(home, ds.url, redis.url, FeedDesign.HYBRID, workers=args.http_workers).start(tokens[0])
            try:
                weight = page_weight(f"http://127.0.0.1:{server.port}", tokens[0])
                series = []
                for path, label in (("/", "home page (HTML)"), ("/v1/feed", "GET /v1/feed (JSON)")):
                    requests = [(path, t) for t in tokens]
                    with tempfile.TemporaryDirectory(prefix="load-") as work:
                        phases = reads.run_phases(server, ds, redis, requests, plan, Path(work), say, label)
                    series.append((label, phases))
            finally:
                server.stop()
        finally:
            redis.stop()
    text = _markdown(about, args, series, weight, time.monotonic() - began)
    print(text)
    if not args.no_write:
        replace_section(REPO / "docs" / "benchmarks.md", START, END, text)


def _markdown(
    about: machine.Machine,
    args: argparse.Namespace,
    series: list[tuple[str, list[reads.Phase]]],
    weight: Weight,
    seconds: float,
) -> str:
    page = series[0][1]
    lowest = page[0].result
    ok = lowest.p95_ms <= TARGET_P95_MS and lowest.achieved_per_s >= 0.95 * lowest.rate
    lines = [
        START,
        "## Web app: the home page's speed (`make bench-web`)",
        "",
        f"- **Date:** {about.date}; {seconds / 60:.1f} min",
        f"- **Command:** `{about.command}`",
        f"- **Machine:** {about.cores} cores ({about.cpu}), {about.ram_gib:.0f} GiB RAM; load average at start "
        f"{about.load_at_start} (each phase's is in its row)",
        f"- **Code:** {about.commit}; `darkroom http` with {args.http_workers} worker processes, the hybrid feed, "
        f"over the social benchmark's data set (100,000 accounts, 1,000,000 posts, 20 % active: "
        f"`make bench-social`)",
        "- **How:** `GET /` (the feed page a signed-in person sees: 20 posts hydrated, their latest comments in "
        "one statement, the template) and `GET /v1/feed` (the same posts as JSON) by random active viewers, "
        f"open loop, {args.duration:g} s per rate after {args.warmup:g} s of warm-up; the load generator, "
        "PostgreSQL and Redis share the machine's cores with the server, so a lightly loaded phase's latency is "
        "the server time plus a loopback round trip.",
        "",
        "| target | goal | measured | result |",
        "|---|---|---|---|",
        f"| home page server time | p95 ≤ {TARGET_P95_MS:g} ms | p95 {lowest.p95_ms:.1f} ms at {lowest.rate:g}/s "
        f"| **{'PASS' if ok else 'FAIL'}** |",
        f"| the first feed page's JS + CSS | ≤ {BUDGET_BYTES // 1000} KB | {weight.raw_bytes / 1000:.0f} KB whole, "
        f"{weight.gzip_bytes / 1000:.0f} KB gzipped ({', '.join(weight.files)}) | "
        f"**{'PASS' if weight.raw_bytes <= BUDGET_BYTES else 'FAIL'}** |",
        "",
        "| request | rate /s | achieved /s | p50 ms | p95 ms | p99 ms | max ms | errors | server CPU ms/request "
        "| load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, phases in series:
        for p in phases:
            r = p.result
            errors = r.sent - r.ok
            lines.append(
                f"| {label} | {r.rate:g} | {r.achieved_per_s:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | "
                f"{r.p99_ms:.1f} | {r.max_ms:.0f} | {errors} | {p.server_cpu_ms:.1f} | {p.load_avg:.1f} |"
            )
    lines += ["", END, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
