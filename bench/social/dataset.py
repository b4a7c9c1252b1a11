"""The benchmark's data set in PostgreSQL: a :class:`~bench.social.world.World` bulk-loaded with
COPY into a database of its own, named after the generator's version and the scale, and kept
between runs (a second run finds it complete and loads nothing).

The load: a fresh database migrated as every process does (``open_database``), then every
foreign key, primary key, unique constraint and index of the loaded tables dropped, the rows
COPYed in (the follows as fixed-width text made by numpy, the rest row by row), the constraints and
indexes created again from the definitions PostgreSQL printed for them (so the schema is exactly
the migration's), and ``VACUUM ANALYZE``. A marker row written last says the load finished; a
database without it is dropped and loaded again.

Rows: accounts (handles ``u0000000``…, public, follower/following/post counters set as the
counter consumer would), follows (active), posts (ready, with a caption), one upload per post (a
ready photo whose renditions are the blob keys of :data:`SHARED_RENDITIONS`: every post shows
media, a few files serve them all) and its ``post_media`` row, and a ``read write`` bearer token
per active account (the digest of :meth:`World.token`). No likes, comments, tags or blocks.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

from bench.social.world import Scale, World, generate, ulids
from darkroom.storage.db import open_database

__all__ = ["GENERATOR_VERSION", "SHARED_RENDITIONS", "Dataset", "database_name", "ensure", "libpq_url"]

GENERATOR_VERSION = 1  # bump when the rows made for a scale change: the cached databases are then left alone
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
_TABLES = ("accounts", "follows", "uploads", "posts", "post_media", "credentials")
_META = "bench_social_meta"
_CHUNK_ROWS = 500_000


def _renditions(variant: int) -> dict[str, object]:
    """A photo's ``uploads.info``: the sizes and formats ``photo.renditions`` makes, under
    content-addressed keys shared by every upload of this variant."""
    sizes = [(1080, 1350, "image"), (640, 800, "image"), (320, 400, "image"), (150, 150, "thumbnail")]
    out = []
    for width, height, role in sizes:
        for fmt in ("jpeg", "webp") if role == "image" else ("webp",):
            digest = hashlib.sha256(f"bench-social {variant} {width} {fmt}".encode()).hexdigest()
            out.append({"key": f"cas/sha256/{digest[:2]}/{digest}.{fmt}", "content_type": f"image/{fmt}",
                        "width": width, "height": height, "role": role})  # fmt: skip
    return {"width": 1080, "height": 1350, "renditions": out}


SHARED_RENDITIONS = [_renditions(v) for v in range(4)]
_PLACES = ["harbour", "old town", "ridge", "market", "beach", "station", "garden", "river", "rooftop", "forest"]


@dataclass
class Dataset:
    """A loaded data set: its database URL (SQLAlchemy form), its world, and how the load went
    (``cached``: found complete, nothing loaded by this run)."""

    url: str
    world: World
    cached: bool
    seconds: dict[str, float] = field(default_factory=dict)  # load phases, of the run that loaded it
    loaded_at: str = ""
    sizes: dict[str, int] = field(default_factory=dict)  # bytes on disk per table (indexes included)

    @property
    def load_s(self) -> float:
        return sum(self.seconds.values())


def database_name(scale: Scale) -> str:
    share = round(scale.active_share * 100)
    return (f"bench_social_v{GENERATOR_VERSION}_s{scale.seed}_a{scale.accounts}_f{scale.follows}"
            f"_p{scale.posts}_act{share}_z{round(scale.alpha * 100)}")  # fmt: skip


def libpq_url(url: str, database: str | None = None) -> str:
    """``url`` for psycopg (no ``+driver``), optionally naming another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def ensure(
    scale: Scale,
    server_url: str = LOCAL_SERVER,
    *,
    database: str = "",
    progress: Callable[[str], None] = lambda _: None,
) -> Dataset:
    """The data set of ``scale`` on the PostgreSQL server at ``server_url`` (in ``database``,
    :func:`database_name` by default): the cached database when a complete one exists, else
    loaded now (minutes at the full scale)."""
    began = time.monotonic()
    world = generate(scale)
    generate_s = time.monotonic() - began
    name = database or database_name(scale)
    url = libpq_url(server_url, name)
    with psycopg.connect(libpq_url(server_url), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists:
            found = _read_meta(url)
            if found is not None:
                seconds, loaded_at = found
                return Dataset(url, world, True, seconds, loaded_at, _sizes(url))
            progress(f"dropping the unfinished {name}")
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    open_database(url).dispose()  # the migrations, as every process runs them
    seconds = {"generate": generate_s, **_load(url, world, progress)}
    loaded_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {_META} (key text PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute(
            f"INSERT INTO {_META} VALUES ('load', %s)", [json.dumps({"seconds": seconds, "loaded_at": loaded_at})]
        )
    return Dataset(url, world, False, seconds, loaded_at, _sizes(url))


def _read_meta(url: str) -> tuple[dict[str, float], str] | None:
    with psycopg.connect(url, autocommit=True) as conn:
        has = conn.execute("SELECT to_regclass(%s)", [_META]).fetchone()
        if has is None or has[0] is None:
            return None
        row = conn.execute(f"SELECT value FROM {_META} WHERE key = 'load'").fetchone()
    if row is None:
        return None
    value = row[0]
    return {k: float(v) for k, v in value["seconds"].items()}, str(value["loaded_at"])


def _sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [list(_TABLES)],
        ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


# -- the load ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ddl:
    drops: list[str]
    creates: list[str]  # primary and unique keys and indexes
    foreign_keys: list[str]  # after every table is loaded and indexed


def _schema_ddl(conn: psycopg.Connection) -> _Ddl:
    """What to drop before the COPY and create after it, as PostgreSQL prints the migration's
    definitions: every foreign key of the schema (some point at loaded tables' keys), then the
    keys and indexes of the loaded tables."""
    fks = conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
           WHERE c.contype = 'f' AND n.nspname = 'public'"""
    ).fetchall()
    keys = conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
           FROM pg_constraint c WHERE c.contype IN ('p', 'u') AND c.conrelid::regclass::text = ANY(%s)""",
        [list(_TABLES)],
    ).fetchall()
    owned = {str(r[1]) for r in keys}
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s)",
        [list(_TABLES)],
    ).fetchall()
    drops = [f'ALTER TABLE {t} DROP CONSTRAINT "{name}"' for t, name, _ in fks]
    drops += [f'ALTER TABLE {t} DROP CONSTRAINT "{name}"' for t, name, _ in keys]
    drops += [f'DROP INDEX "{name}"' for name, _ in indexes if name not in owned]
    creates = [f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {d}' for t, name, d in keys]
    creates += [str(d) for name, d in indexes if name not in owned]
    return _Ddl(drops, creates, [f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {d}' for t, name, d in fks])


def _load(url: str, world: World, progress: Callable[[str], None]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET synchronous_commit = off")
        ddl = _schema_ddl(conn)
        for statement in ddl.drops:
            conn.execute(statement)
        for table, columns, chunks in _tables(world):
            began = time.monotonic()
            rows = 0
            with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for chunk, n in chunks:
                    copy.write(chunk)
                    rows += n
                    progress(f"{table}: {rows:,} rows")
            seconds[f"copy {table}"] = time.monotonic() - began
        began = time.monotonic()
        for statement in ddl.creates:
            progress(statement[:90])
            conn.execute(statement)
        seconds["keys and indexes"] = time.monotonic() - began
        began = time.monotonic()
        for statement in ddl.foreign_keys:
            conn.execute(statement)
        seconds["foreign keys"] = time.monotonic() - began
        began = time.monotonic()
        progress("VACUUM ANALYZE")
        conn.execute("VACUUM (ANALYZE)")
        seconds["vacuum analyze"] = time.monotonic() - began
    return seconds


_Chunks = Iterator[tuple[bytes, int]]


def _tables(world: World) -> Iterator[tuple[str, list[str], _Chunks]]:
    yield "accounts", _ACCOUNT_COLUMNS, _accounts(world)
    yield "follows", ["follower_id", "followee_id", "state", "created_at"], _follows(world)
    yield "uploads", _UPLOAD_COLUMNS, _uploads(world)
    yield "posts", _POST_COLUMNS, _posts(world)
    yield "post_media", ["post_id", "position", "upload_id"], _post_media(world)
    yield "credentials", _CREDENTIAL_COLUMNS, _credentials(world)


def _lines(rows: Iterator[str], per_chunk: int = _CHUNK_ROWS) -> _Chunks:
    buf: list[str] = []
    for row in rows:
        buf.append(row)
        if len(buf) == per_chunk:
            yield "".join(buf).encode(), len(buf)
            buf = []
    if buf:
        yield "".join(buf).encode(), len(buf)


_ACCOUNT_COLUMNS = [
    "id", "handle", "email", "display_name", "bio", "private", "role", "disabled", "password_hash",
    "follower_count", "following_count", "post_count", "version", "last_seen_at", "created_at", "updated_at",
]  # fmt: skip


def _accounts(world: World) -> _Chunks:
    ins, outs, posts = world.in_degree, world.out_degree, world.post_count
    seen = np.zeros(world.scale.accounts, dtype=bool)
    seen[world.active_accounts()] = True

    def rows() -> Iterator[str]:
        for i in range(world.scale.accounts):
            handle, created = world.handle(i), world.account_ms[i] / 1000
            last_seen = f"{_NOW_S}" if seen[i] else "\\N"
            yield (f"{world.id_of(i)}\t{handle}\t{handle}@bench.test\tUser {i}\t\tf\tuser\tf\tx\t{ins[i]}\t"
                   f"{outs[i]}\t{posts[i]}\t1\t{last_seen}\t{created}\t{created}\n")  # fmt: skip

    return _lines(rows())


_NOW_S = 1_761_955_200  # the data set's "now" (world.END_S): active accounts were seen then


def _follows(world: World) -> _Chunks:
    """Fixed-width rows made by numpy: ``follower\\tfollowee\\tactive\\t<10-digit seconds>\\n``."""
    ids = world.account_ids.view(np.uint8).reshape(-1, 26)
    for start in range(0, len(world.follower), 2 * _CHUNK_ROWS):
        src = world.follower[start : start + 2 * _CHUNK_ROWS]
        dst = world.followee[start : start + 2 * _CHUNK_ROWS]
        secs = world.follow_s[start : start + 2 * _CHUNK_ROWS]
        rows = np.empty((len(src), 72), dtype=np.uint8)
        rows[:, 0:26] = ids[src]
        rows[:, 26] = 9
        rows[:, 27:53] = ids[dst]
        rows[:, 53:61] = np.frombuffer(b"\tactive\t", dtype=np.uint8)
        for k in range(10):
            rows[:, 61 + k] = 48 + (secs // 10 ** (9 - k)) % 10
        rows[:, 71] = 10
        yield rows.tobytes(), len(src)


def _upload_ids(world: World) -> np.ndarray:
    # an upload a few seconds before its post; its own random part (post_media.upload_id is unique)
    rng = np.random.default_rng(world.scale.seed + 1)
    return ulids(world.post_ms - 5000, rng)


_UPLOAD_COLUMNS = [
    "id", "account_id", "state", "kind", "filename", "length_bytes", "received_bytes", "info", "created_at",
    "updated_at",
]  # fmt: skip


def _uploads(world: World) -> _Chunks:
    infos = [json.dumps(i, separators=(",", ":")) for i in SHARED_RENDITIONS]
    uploads = _upload_ids(world)

    def rows() -> Iterator[str]:
        for p in range(world.scale.posts):
            at = (world.post_ms[p] - 5000) / 1000
            author = world.id_of(int(world.post_author[p]))
            yield (f"{uploads[p].decode()}\t{author}\tready\tphoto\tIMG_{p:07d}.jpg\t2400000\t2400000\t"
                   f"{infos[p % len(infos)]}\t{at}\t{at}\n")  # fmt: skip

    return _lines(rows())


_POST_COLUMNS = [
    "id", "author_id", "caption", "state", "like_count", "comment_count", "version", "created_at", "updated_at",
    "ready_at",
]  # fmt: skip


def _posts(world: World) -> _Chunks:
    rng = np.random.default_rng(world.scale.seed + 2)
    likes = rng.zipf(2.0, size=world.scale.posts).clip(max=100_000) - 1
    comments = rng.zipf(2.5, size=world.scale.posts).clip(max=10_000) - 1

    def rows() -> Iterator[str]:
        for p in range(world.scale.posts):
            at = world.post_ms[p] / 1000
            place = _PLACES[p % len(_PLACES)]
            caption = f"Evening light over the {place}, day {p % 365} of the year. Shot on a phone, no filter."
            yield (f"{world.post_id(p)}\t{world.id_of(int(world.post_author[p]))}\t{caption}\tready\t{likes[p]}\t"
                   f"{comments[p]}\t1\t{at}\t{at}\t{at}\n")  # fmt: skip

    return _lines(rows())


def _post_media(world: World) -> _Chunks:
    uploads = _upload_ids(world)
    return _lines(f"{world.post_id(p)}\t0\t{uploads[p].decode()}\n" for p in range(world.scale.posts))


_CREDENTIAL_COLUMNS = ["id", "account_id", "kind", "secret_sha256", "scopes", "name", "created_at"]


def _credentials(world: World) -> _Chunks:
    rng = np.random.default_rng(world.scale.seed + 3)
    active = world.active_accounts()
    ids = ulids(np.full(len(active), _NOW_S * 1000, dtype=np.int64), rng)

    def rows() -> Iterator[str]:
        for k, a in enumerate(active):
            digest = hashlib.sha256(world.token(int(a)).encode()).hexdigest()
            yield f"{ids[k].decode()}\t{world.id_of(int(a))}\ttoken\t{digest}\tread write\tbench\t{_NOW_S}\n"

    return _lines(rows())
