"""The app's own CPU per request, in one process: ``GET /v1/feed`` and ``GET /v1/posts/{id}`` (whole
and with ``fields=``) sent straight to the ASGI app, one at a time, over the quick data set.

No server, no network, no load generator and no concurrency: what is left is the app's Python and
its clients' (SQLAlchemy, psycopg, redis-py), which is what a code change moves. The open-loop runs
of ``bench.social.run`` measure the same CPU with uvicorn around it and the machine's noise in it
(±20 % between runs of the same code on a shared machine). Rounds of the same code differ here too
(by up to a third on this virtual machine), always upwards: the least of several rounds is the
steadiest figure. This is the A/B instrument for changes
to the read path, not a replacement for them. PostgreSQL's and Redis's CPU are not in it.

    .venv/bin/python -m bench.social.cpu [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.queue.server import BenchRedis
from bench.social import dataset, feeds
from bench.social.reads import POST_FIELDS
from bench.social.world import Scale
from darkroom.config import Settings
from darkroom.platform.wiring import Wiring
from darkroom.social.feed import FeedConfig, FeedDesign
from darkroom.web.main import app_for

QUICK = Scale(accounts=2000, follows=100_000, posts=20_000)
QUICK_CELEBRITY = 500
KINDS = ("feed", "post", "post fields")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests per kind and round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (the least and the median are reported)")
    parser.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), help="which requests")
    parser.add_argument("--postgres-url", default=dataset.LOCAL_SERVER)
    return parser.parse_args()


async def _call(app: Any, path: str, token: str) -> int:
    route, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": route, "raw_path": route.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode()),
                    (b"accept-encoding", b"gzip")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _measure(app: Any, requests: list[tuple[str, str]]) -> float:
    """CPU µs per request (every thread of the process) over ``requests``, sent one at a time."""
    began = time.process_time()
    for path, token in requests:
        status = await _call(app, path, token)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
    return (time.process_time() - began) / len(requests) * 1e6


async def _run(app: Any, kinds: dict[str, list[tuple[str, str]]], rounds: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {k: [] for k in kinds}
    async with app.router.lifespan_context(app):
        for requests in kinds.values():  # warm-up: caches, statements, the post JSON memo
            await _measure(app, requests[: len(requests) // 4])
        for _ in range(rounds):
            for kind, requests in kinds.items():
                found[kind].append(await _measure(app, requests))
    return found


def main() -> None:
    args = _parse()
    say: Callable[[str], None] = lambda m: print(f"{time.strftime('%H:%M:%S')} {m}", flush=True)  # noqa: E731
    os.environ["DARKROOM_FEED_CELEBRITY_FOLLOWERS"] = str(QUICK_CELEBRITY)
    ds = dataset.ensure(QUICK, args.postgres_url, progress=say)
    world = ds.world
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        redis = BenchRedis(Path(tmp) / "redis").start()
        try:
            os.environ.update({
                "DARKROOM_HOME": str(Path(tmp) / "home"), "DARKROOM_DATABASE_URL": ds.url,
                "DARKROOM_REDIS_URL": redis.url, "DARKROOM_FEED_DESIGN": str(FeedDesign.HYBRID),
                "DARKROOM_HTTP_RATE_PER_IP": "1000000000/1", "DARKROOM_HTTP_RATE_PER_ACCOUNT": "1000000000/1",
            })  # fmt: skip
            settings = Settings.from_env()
            config = FeedConfig.from_settings(settings)
            feeds.build_author_posts(redis.client, world, config)
            feeds.build_feeds(redis.client, world, world.active_accounts(), FeedDesign.HYBRID, config)
            rng = random.Random(world.scale.seed)
            tokens = [world.token(int(a)) for a in world.active_accounts()]
            newest = len(world.post_ids)
            posts = [world.post_id(rng.randrange(max(0, newest - 100_000), newest)) for _ in range(args.requests)]
            kinds = {
                "feed": [("/v1/feed", rng.choice(tokens)) for _ in range(args.requests)],
                "post": [(f"/v1/posts/{p}", rng.choice(tokens)) for p in posts],
                "post fields": [(f"/v1/posts/{p}?fields={POST_FIELDS}", rng.choice(tokens)) for p in posts],
            }
            kinds = {k: v for k, v in kinds.items() if k in args.only}
            app = app_for(Wiring(settings, role="http"))
            found = asyncio.run(_run(app, kinds, args.rounds))
        finally:
            redis.stop()
    for kind, values in found.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        least, median = min(values), statistics.median(values)
        print(f"{kind:12} least {least:7,.0f}  median {median:7,.0f} µs CPU/request  (rounds: {shown})")


if __name__ == "__main__":
    main()
