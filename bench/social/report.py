"""The social benchmark's section of docs/benchmarks.md, from a :class:`Results`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.queue import machine
from bench.social import fanout
from bench.social.dataset import Dataset
from bench.social.feeds import Built, MemoryPoint
from bench.social.reads import POST_FIELDS, Phase, Series
from bench.social.visible import POLL_S, VisibleRun

__all__ = ["END", "START", "FanoutResults", "Results", "WorldFacts", "markdown"]

START = "<!-- bench-social:start (written by `make bench-social`; edits inside are overwritten) -->"
END = "<!-- bench-social:end -->"

FEED_P99_MS, FEED_RATE = 20.0, 500.0
POST_P99_MS, POST_RATE = 10.0, 1000.0
VISIBLE_P95_S = 3.0
FANOUT_TARGET_S, FANOUT_TARGET_X = 1.0, 10
# Stream-Framework 1.4.0 on this machine class (reference file §5): 10,000 feeds in 1.31 s.
SF_SECONDS, SF_ENTRIES_PER_S, SF_MEMORY_MB = 1.31, 7_600, 50


@dataclass(frozen=True)
class WorldFacts:
    accounts: int
    follows: int
    posts: int
    active: int
    max_followers: int
    followed_by_all: int  # accounts every other account follows (the most followers possible)
    above_100k: int
    celebrities: int  # above the threshold: pulled by the hybrid design
    celebrity_threshold: int
    mean_following: float
    mean_celebrities_followed: float  # by an active account
    mean_hybrid_feed: float  # entries in an active account's feed, hybrid design
    mean_push_feed: float


@dataclass
class FanoutResults:
    followers: int
    posts_n: int
    sweep_posts: int
    database: str
    runs: list[fanout.FanoutRun]
    sweep: list[fanout.FanoutRun]
    celebrity_s: float
    memory: list[fanout.MemoryRow]


@dataclass
class Results:
    machine: machine.Machine
    postgres: str
    scale_note: str
    seconds: float = 0.0
    dataset: Dataset | None = None
    world: WorldFacts | None = None
    feeds: list[Series] = field(default_factory=list)
    posts: list[Series] = field(default_factory=list)
    visible: VisibleRun | None = None
    memory: list[MemoryPoint] = field(default_factory=list)
    memory_variants: list[MemoryPoint] = field(default_factory=list)
    author_posts: Built | None = None
    author_posts_bytes: int = 0
    fanout: FanoutResults | None = None
    skipped: list[str] = field(default_factory=list)
    http_workers: int = 1  # darkroom http --workers


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def _ms(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def _kept_up(p: Phase) -> bool:
    r = p.result
    return r.achieved_per_s >= 0.95 * r.rate and r.timeouts == 0 and r.ok == r.sent


def best_rate(series: Series, p99_ms: float) -> Phase | None:
    """The highest-rate phase the server kept up with inside the p99 target."""
    good = [p for p in series.phases if _kept_up(p) and p.result.p99_ms <= p99_ms]
    return max(good, key=lambda p: p.result.rate, default=None)


def _phase_rows(series: list[Series]) -> list[list[str]]:
    rows = []
    for s in series:
        for p in s.phases:
            r = p.result
            errors = r.sent - r.ok
            bad = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()) if not k.startswith("2"))
            why = ", ".join(x for x in (bad, f"{r.timeouts:,} unanswered" if r.timeouts else "") if x)
            err = f"{errors:,} ({why})" if errors else "0"
            rows.append([
                s.label, f"{r.rate:,.0f}", f"{r.achieved_per_s:,.0f}", _ms(r.p50_ms), _ms(r.p90_ms), _ms(r.p99_ms),
                _ms(r.max_ms), err, f"{p.server_cpu_ms:.1f} / {p.postgres_cpu_ms:.1f} / {p.redis_cpu_ms:.2f}",
                f"{r.generator_cpu_share * 100:.0f} %", f"{p.load_avg:.1f}",
            ])  # fmt: skip
    return rows


_PHASE_HEAD = ["design", "rate /s", "achieved /s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
               "CPU ms/request: server / PostgreSQL / Redis", "generator CPU", "load avg"]  # fmt: skip


def _header(res: Results) -> list[str]:
    m = res.machine
    return [
        START,
        "## Social: home feed by design, posts, upload to visible, fan-out (`make bench-social`)",
        "",
        f"- **Date:** {m.date}; total run time {res.seconds / 60:.1f} min",
        f"- **Command:** `{m.command}` ({res.scale_note})",
        f"- **Machine:** {m.cores} cores ({m.cpu}), {m.ram_gib:.0f} GiB RAM, Linux {m.kernel}; "
        f"load average at start {m.load_at_start} (each phase's is in its row)",
        f"- **Software:** redis-server {m.redis} (private, password, AOF appendfsync everysec, TCP 127.0.0.1); "
        f"PostgreSQL {res.postgres} (the machine's server, shared, default settings: shared_buffers 128 MB); "
        f"Python {m.python}; `darkroom http` = uvicorn + uvloop + httptools, "
        + ("one process" if res.http_workers == 1 else f"{res.http_workers} worker processes (`--workers`)"),
        f"- **Darkroom code:** {m.commit}",
        "- **Caveat:** the server under test, PostgreSQL, Redis and the load generator all run on the same "
        f"{m.cores} cores"
        + (
            "; the machine was shared with other work (load averages above and per row): these numbers are "
            "from a busy machine and need a quiet rerun."
            if _busy(m.load_at_start)
            else "."
        ),
        "",
    ]


def _busy(load_average: str) -> bool:
    """Whether the 1-minute load average at the start says other work was running (over half a core)."""
    try:
        return float(load_average.split(maxsplit=1)[0]) > 0.5
    except (ValueError, IndexError):
        return True


def _rate_target(label: str, series: Series, p99_ms: float, rate: float) -> list[str]:
    best = best_rate(series, p99_ms)
    at_target = [p for p in series.phases if p.result.rate >= rate]
    holds = any(_kept_up(p) and p.result.p99_ms <= p99_ms for p in at_target)
    shown = f"holds up to {best.result.rate:,.0f}/s (p99 {best.result.p99_ms:.1f} ms)" if best else "at no rate tried"
    if at_target:
        t = at_target[0].result
        shown += f"; at {t.rate:,.0f}/s: p99 {_ms(t.p99_ms)} ms, {t.achieved_per_s:,.0f}/s answered"
    return [label, f"p99 ≤ {p99_ms:.0f} ms at ≥ {rate:,.0f}/s", shown, _verdict(holds)]


def _targets(res: Results) -> list[str]:
    rows = [_rate_target(f"home feed, {s.label}", s, FEED_P99_MS, FEED_RATE) for s in res.feeds]
    rows += [_rate_target(f"`GET /v1/posts/{{id}}`, {s.label}", s, POST_P99_MS, POST_RATE) for s in res.posts]
    if res.visible is not None and res.visible.samples:
        v = res.visible
        p95 = v.quantile(0.95)
        shown = f"{p95:.2f} s over {len(v.samples)} photos"
        rows.append(["upload finished → in a follower's feed (photo)", f"p95 ≤ {VISIBLE_P95_S:.0f} s", shown,
                     _verdict(p95 <= VISIBLE_P95_S)])  # fmt: skip
    if res.fanout is not None:
        run = res.fanout.runs[0]
        x = run.entries_per_s / SF_ENTRIES_PER_S
        rows += [
            [f"post to every active follower's feed ({run.feeds - 1:,} followers)", f"≤ {FANOUT_TARGET_S:.0f} s",
             f"{run.max_s * 1000:.0f} ms (max of {len(run.seconds)})", _verdict(run.max_s <= FANOUT_TARGET_S)],
            ["feed entries/s vs Stream-Framework", f"≥ {FANOUT_TARGET_X}x",
             f"{x:.1f}x ({run.entries_per_s:,.0f} vs {SF_ENTRIES_PER_S:,})", _verdict(x >= FANOUT_TARGET_X)],
            ["a celebrity's post readable by followers at once (pulled)", "no fan-out wait",
             f"recorded in {res.fanout.celebrity_s * 1000:.1f} ms, merged at the next read", _verdict(True)],
        ]  # fmt: skip
    if not rows:
        return []
    return ["### Targets", "", *_table(["target", "goal", "measured", "result"], rows), ""]


def _dataset(res: Results) -> list[str]:
    d, w = res.dataset, res.world
    if d is None or w is None:
        return []
    sizes = ", ".join(f"{k} {v / 2**30:.2f} GiB" if v >= 2**30 else f"{k} {v / 2**20:.0f} MiB"
                      for k, v in sorted(d.sizes.items(), key=lambda kv: -kv[1]))  # fmt: skip
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in d.seconds.items())
    how = (f"found complete in the cache (database `{d.url.rsplit('/', 1)[1]}`, loaded {d.loaded_at}: nothing "
           f"loaded by this run)" if d.cached else f"loaded by this run into `{d.url.rsplit('/', 1)[1]}`")  # fmt: skip
    return [
        "### Data set",
        "",
        f"{w.accounts:,} accounts, {w.follows:,} follows, {w.posts:,} posts (ready, one photo each), "
        f"{w.active:,} active accounts ({w.active / w.accounts:.0%}) with a bearer token each and their feeds "
        f"built in Redis. In-degree is a power law (Zipf by rank, exponent 0.9): the most followed account has "
        f"{w.max_followers:,} followers, {w.followed_by_all} accounts are followed by every other account "
        f'(99,999 is the most 100,000 accounts allow, so the issue\'s "≥ 100,000 followers" cannot happen at '
        f"this size: {w.above_100k} do), {w.celebrities} accounts have more than {w.celebrity_threshold:,} "
        f"followers (the hybrid design pulls them). An account follows {w.mean_following:.0f} on average, "
        f"{w.mean_celebrities_followed:.1f} of them celebrities; an active account's feed holds "
        f"{w.mean_hybrid_feed:.0f} entries in the hybrid design and {w.mean_push_feed:.0f} in push-only (cap 800).",
        "",
        f"Load: {how}; {d.load_s:.0f} s in all ({phases}). On disk: {sizes}.",
        "",
    ]


def _feeds(res: Results) -> list[str]:
    if not res.feeds:
        return []
    out = [
        "### Home feed: `GET /v1/feed` by design",
        "",
        "Each design is served by a fresh `darkroom http` (`DARKROOM_FEED_DESIGN`), over the same data set, "
        "with its Redis state built first (hybrid: feeds without celebrities' posts; push: feeds with every "
        "followee's; pull and SQL: no feeds; every design: each author's recent posts, as the fan-out keeps "
        "them). Requests: `GET /v1/feed` (20 posts hydrated: author, media, counters, `liked_by_me`; "
        "`Accept-Encoding: gzip`), each by a random active account with its bearer token. A warm-up at the "
        "lowest rate, then each rate for its duration; open loop, latency from the intended send time. "
        "*Achieved* = 2xx answers / (last answer - first measured send); when it is below the rate, the server "
        "fell behind and the latencies show the queue. CPU per request: the server process, the PostgreSQL "
        "backends of the data set's database, Redis (`INFO cpu`); the generator's CPU is a share of one core.",
        "",
        *_table(_PHASE_HEAD, _phase_rows(res.feeds)),
        "",
    ]
    setups = [f"{s.label} {s.setup_s:.0f} s" for s in res.feeds if s.setup_s]
    if setups:
        out += [f"Building the feeds before the server started: {', '.join(setups)}.", ""]
    return out


def _posts(res: Results) -> list[str]:
    if not res.posts:
        return []
    return [
        "### `GET /v1/posts/{id}`",
        "",
        f"Random posts among the newest, by random active accounts; whole (author, media, counters, "
        f"`liked_by_me`) and with `fields={POST_FIELDS}` (the mask reaches the SQL: no author or media "
        "columns are read). One server for both, the whole-post phases first.",
        "",
        *_table(["request", *_PHASE_HEAD[1:]], _phase_rows(res.posts)),
        "",
    ]


def _profile(res: Results) -> list[str]:
    found = next((s.profile for s in res.feeds if s.profile is not None), None)
    if found is None:
        return []
    if found.error:
        return ["### Where the feed route's time goes", "", f"Not profiled: {found.error}.", ""]
    parts = [[k, f"{v:,.0f}", f"{v / found.us_per_request:.0%}"] for k, v in found.by_part.items()]
    libs = [[k, f"{v:,.0f}"] for k, v in found.by_library.items()]
    leaves = [[f"`{k}`", f"{v:,.0f}"] for k, v in found.top_leaves]
    return [
        "### Where the feed route's time goes",
        "",
        f"`py-spy record --gil` on the hybrid design's server, {found.seconds:.0f} s at a rate it keeps up with "
        f"({found.requests:,} requests): {found.us_per_request:,.0f} µs of GIL-holding Python per request "
        "(waits on PostgreSQL and Redis are not in it; C code that released the GIL is not either).",
        "",
        *_table(["part of the request", "µs/request", "share"], parts),
        "",
        *_table(["library (innermost frame)", "µs/request"], libs),
        "",
        *_table(["hottest leaf functions", "µs/request"], leaves),
        "",
    ]


def _visible(res: Results) -> list[str]:
    v = res.visible
    if v is None or not v.samples:
        return []
    spans = (("upload answered → post ready", "ready_s"), ("upload answered → in the follower's feed", "visible_s"))
    rows = [
        [label, f"{v.quantile(0.5, attr):.2f} s", f"{v.quantile(0.95, attr):.2f} s", f"{v.quantile(1.0, attr):.2f} s"]
        for label, attr in spans
    ]
    return [
        "### Upload to visible",
        "",
        f"A real platform (`LocalPlatform`, `PlatformConfig(social=True)`: private redis-server, 1 engine, "
        f"2 workers, the social runner, `darkroom http`; SQLite) and only its HTTP API: {len(v.samples)} photos "
        f"of {v.width} x {v.height} ({v.photo_bytes / 2**20:.1f} MiB JPEG, each different), one at a time after "
        f"a warm-up. `POST /v1/uploads`, then at once `POST /v1/posts`; the clock starts when the upload's "
        f"answer arrives and stops when the follower's `GET /v1/feed` (polled every {POLL_S * 1000:.0f} ms) lists "
        "the post. Ready = the post's `ready_at`.",
        "",
        *_table(["", "p50", "p95", "max"], rows),
        "",
        f"Delivery (ready → visible: outbox relay, stream, fan-out consumer, push, the poll) takes "
        f"{v.median_delivery_s:.2f} s at the median.",
        "",
    ]


def _memory(res: Results) -> list[str]:
    if not res.memory:
        return []
    rows = [
        [p.label or f"hybrid, {p.share:.0%} active", f"{p.feeds:,}", f"{p.entries / p.feeds:.0f}",
         f"{p.bytes_per_feed / 1024:.1f} KiB", f"{p.bytes_per_entry:.0f} B", f"{p.bytes_total / 2**20:,.0f} MiB"]
        for p in [*res.memory, *res.memory_variants]
    ]  # fmt: skip
    out = [
        "### Redis memory for the feeds",
        "",
        "`used_memory` growth while the feeds are built (nested: each share adds accounts to the last), on a "
        "Redis holding nothing else; then the same 20 % in other forms.",
        "",
        *_table(["feeds", "feeds", "entries/feed", "per feed", "per entry", "total"], rows),
        "",
    ]
    if res.author_posts is not None:
        a = res.author_posts
        out += [
            f"Every author's recent posts (kept whatever the design, read for celebrities and by pull): "
            f"{a.feeds:,} sets, {a.entries:,} entries, {res.author_posts_bytes / 2**20:,.0f} MiB.",
            "",
        ]
    return out


def _fanout(res: Results) -> list[str]:
    f = res.fanout
    if f is None:
        return []
    run, full = f.runs[0], f.runs[-1]
    lines = [
        "### Fan-out: one author's post into every active follower's feed, vs Stream-Framework",
        "",
        f"One author with {run.feeds - 1:,} followers, all active (every feed exists, warmed with "
        f"{fanout.WARM_ENTRIES} entries as Stream-Framework's were), metadata in {f.database}. Each post is "
        "inserted ready in SQL, then `FanoutHandler.handle([post.ready])` is timed from its call until it "
        "returns, when every follower's feed holds the post (checked after each post, untimed). Redis CPU is "
        "`used_cpu_user + used_cpu_sys` over the fan-outs; commands are INFO commandstats, those inside "
        "scripts included. Stream-Framework's figures are from the reference file (this machine class; it "
        "needs `redis<3`).",
        "",
    ]
    head = ["system", "feeds per post", "time to every feed (p50 / max)", "feed entries/s", "Redis CPU µs/entry",
            "Redis cmds/entry"]  # fmt: skip
    rows = [
        [f"Darkroom hybrid fan-out (Lua, {r.batch_keys:,} feeds/call), feeds of {r.entries_before} entries",
         f"{r.feeds:,}", f"{r.p50_s * 1000:.0f} / {r.max_s * 1000:.0f} ms", f"{r.entries_per_s:,.0f}",
         f"{r.cpu_us_per_entry:.2f}", f"{r.calls_per_entry:.1f}"]
        for r in f.runs
    ]  # fmt: skip
    rows.append(["Stream-Framework 1.4.0 (one process; chunks of 100 feeds, `add_many` per feed)", "10,000",
                 f"{SF_SECONDS * 1000:.0f} ms", f"~{SF_ENTRIES_PER_S:,}", "n/a", "n/a"])  # fmt: skip
    lines += _table(head, rows)
    lines += [
        "",
        f"Redis CPU per entry is the steadier figure: at {run.cpu_us_per_entry:.1f} µs one Redis core carries "
        f"about {1e6 / run.cpu_us_per_entry:,.0f} entries/s; into full feeds ({full.entries_before} entries, a "
        f"skiplist) an entry costs {full.cpu_us_per_entry:.1f} µs. The batch size (feeds per Lua call) is "
        "the longest pause one fan-out imposes on other clients:",
        "",
    ]
    head = ["feeds per call", "time to every feed (p50)", "feed entries/s", "µs per call in Redis (mean)",
            "Redis CPU µs/entry"]  # fmt: skip
    lines += _table(
        head,
        [[f"{r.batch_keys:,}", f"{r.p50_s * 1000:.0f} ms", f"{r.entries_per_s:,.0f}", f"{r.usec_per_script:,.0f}",
          f"{r.cpu_us_per_entry:.2f}"] for r in f.sweep],
    )  # fmt: skip
    mem_rows = [[r.label, f"{r.feeds:,}", f"{r.bytes_per_feed / 1024:,.1f} KiB", f"{r.bytes_total / 2**20:,.1f} MiB"]
                for r in f.memory]  # fmt: skip
    mem_rows.append(["Stream-Framework: 101 entries + the activities", "10,000", "~5 KiB", f"~{SF_MEMORY_MB} MB"])
    lines += ["", *_table(["feeds of", "feeds", "per feed", "total"], mem_rows), ""]
    return lines


def markdown(res: Results) -> str:
    lines = _header(res)
    if res.skipped:
        lines += [f"Not run this time: {', '.join(res.skipped)}.", ""]
    for part in (_targets, _dataset, _feeds, _profile, _posts, _visible, _memory, _fanout):
        lines += part(res)
    lines.append(END)
    return "\n".join(lines) + "\n"
