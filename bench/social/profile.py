"""Where the feed route's time goes: ``py-spy record --gil`` on the ``darkroom http`` process while
the generator drives ``GET /v1/feed`` at a rate it keeps up with.

``--gil`` keeps only samples of the thread holding the GIL, i.e. the server's Python work (the
waits on PostgreSQL and Redis are left out, and so is C code that released the GIL). Samples are
split by the part of the request they are in (the first matching rule, from the most specific) and
by library; µs per request = samples / rate / requests answered while recording.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RATE_HZ", "Profile", "find_py_spy", "record", "summarize"]

RATE_HZ = 250
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:)]+)(?::\d+)?\)$")
REPO = Path(__file__).resolve().parents[2]

# (label, function names any of which in the stack puts a sample there); first match wins
_PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("edge: credential (cache GET; SQL on a miss)", ("DatabaseAuthenticator.authenticate",)),
    ("edge: rate limit (Redis Lua)", ("RateLimiter.hit",)),
    (
        "feed: celebrities (pulled set; SQL on a miss)/followees (SQL)",
        ("celebrities", "celebrity_followees", "followees"),
    ),
    ("feed: visibility check (SQL; the web route's is its hydration)", ("visible_posts",)),
    ("feed: SQL join (sql_feed)", ("sql_feed",)),
    ("feed: Redis reads and merge", ("_Reader._first_read", "_Reader._ranges", "_merge")),
    ("hydrate: cache misses (SQL) and write-back", ("fetch_post_records", "_fill")),
    ("hydrate: viewer relations + freshness (SQL), finishing", ("finish_posts",)),
    ("hydrate: MGET and decoding cached posts", ("hydrate",)),
    ("posts route: the post's SQL", ("get_post",)),
    ("JSON: proto → dict (protojson)", ("to_dict",)),
    ("answer: orjson, ETag, headers", ("answer_page", "answer")),
    ("impressions (XADD by the buffer's thread, off the request path)", ("ImpressionBuffer.flush", "publish_views")),
    ("read-only transaction begin/commit", ("Engine.begin", "Connection.commit", "Connection.close")),
    ("gzip", ("GZipResponder", "IdentityResponder.send_with_compression", "compress")),
    ("feed route: other", ("home_feed",)),
    ("thread hand-offs (anyio worker threads)", ("WorkerThread.run", "run_sync_in_worker_thread")),
    ("FastAPI: dependency resolution", ("solve_dependencies",)),
    ("FastAPI/Starlette: routing", ("Router.app", "Router.__call__", "APIRoute.matches", "Route.matches")),
]
_LIBRARIES: list[tuple[str, tuple[str, ...]]] = [
    ("SQLAlchemy + psycopg", ("sqlalchemy/", "psycopg/", "psycopg_pool/")),
    ("redis-py", ("redis/",)),
    ("protobuf + protojson", ("google/protobuf/", "darkroom/api/protojson.py")),
    ("FastAPI, Starlette, uvicorn, anyio", ("fastapi/", "starlette/", "uvicorn/", "anyio/", "asyncio/", "h11/")),
    ("darkroom", ("darkroom/",)),
]


@dataclass
class Profile:
    requests: int = 0
    samples: int = 0
    seconds: float = 0.0
    by_part: dict[str, float] = field(default_factory=dict)  # µs of GIL time per request
    by_library: dict[str, float] = field(default_factory=dict)  # by the innermost library frame
    top_leaves: list[tuple[str, float]] = field(default_factory=list)
    error: str = ""

    @property
    def us_per_request(self) -> float:
        return sum(self.by_part.values())


def find_py_spy(explicit: str = "") -> str | None:
    """``explicit``, else bench/.peers/venv/bin/py-spy (``make bench-queue`` installs it), else PATH."""
    for candidate in (explicit, str(REPO / "bench" / ".peers" / "venv" / "bin" / "py-spy")):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("py-spy")


def record(py_spy: str, pid: int, seconds: float, out: Path, *, subprocesses: bool = False) -> subprocess.Popen[bytes]:
    """Start recording ``pid`` (and its worker processes, with ``subprocesses``) for ``seconds``
    into ``out`` (raw collapsed stacks); wait on it."""
    argv = [py_spy, "record", "--gil", "-p", str(pid), "-r", str(RATE_HZ), "-d", str(int(seconds)), "-f", "raw",
            "-o", str(out), *(["--subprocesses"] if subprocesses else [])]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for frame in stack.split(";"):
        m = _FRAME.match(frame)
        out.append((m.group("func"), m.group("file")) if m else (frame, ""))
    return out


def _part(frames: list[tuple[str, str]]) -> str:
    funcs = {f for f, _ in frames}
    for label, names in _PARTS:
        if funcs.intersection(names):
            return label
    return "server loop: uvicorn, Starlette, FastAPI"


def _library(frames: list[tuple[str, str]]) -> str:
    for _, file in reversed(frames):
        for label, prefixes in _LIBRARIES:
            if any(p in file for p in prefixes):
                return label
    return "other"


def summarize(raw: Path, requests: int, seconds: float) -> Profile:
    by_part: Counter[str] = Counter()
    by_library: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        total += n
        by_part[_part(frames)] += n
        by_library[_library(frames)] += n
        func, file = frames[-1]
        leaves[f"{func} ({file.rsplit('site-packages/', 1)[-1]})"] += n

    def us(n: int) -> float:
        return n / RATE_HZ / max(requests, 1) * 1e6

    return Profile(
        requests=requests,
        samples=total,
        seconds=seconds,
        by_part={k: us(v) for k, v in by_part.most_common()},
        by_library={k: us(v) for k, v in by_library.most_common()},
        top_leaves=[(k, us(v)) for k, v in leaves.most_common(12)],
    )
