"""``darkroom social …``: maintenance of the social product.

``--url`` is the metadata database (``sqlite:///path``, ``sqlite://`` or ``postgresql://…``;
default: ``DARKROOM_DATABASE_URL``, else SQLite at ``--home``/darkroom.db), as for ``darkroom db``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from darkroom.cli._edge import new_app
from darkroom.cli._options import DatabaseUrlOpt, HomeOpt, JsonOpt, check_redis_url, settings_for
from darkroom.cli._params import fail, out, print_json
from darkroom.config import Settings
from darkroom.errors import DarkroomError

__all__ = ["app"]

app = new_app("The social product: maintenance commands.")


CacheRedisOpt = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        callback=check_redis_url,
        help="Redis whose post cache to clear for the posts fixed (default: DARKROOM_REDIS_URL, else the "
        "private redis-server under --home when it runs; none: the cache is left as it is).",
    ),
]


@app.command("repair-counters")
def repair_counters(
    *,
    url: DatabaseUrlOpt = None,
    redis_url: CacheRedisOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every follower, following, post, like and comment counter from the rows, fix the
    wrong ones (in one transaction) and clear the cached copies of the posts fixed."""
    import redis

    from darkroom.social.counters import invalidate_posts
    from darkroom.social.counters import repair_counters as repair
    from darkroom.storage import db

    try:
        settings = settings_for(home)
        engine = db.open_database(url) if url else db.open_database(settings)
    except DarkroomError as exc:
        fail(exc)
    try:
        with engine.begin() as conn:
            report = repair(conn)
        where = db.redact_url(engine.url)
    except DarkroomError as exc:
        fail(exc)
    finally:
        engine.dispose()
    cache = _cache_url(redis_url, settings)
    if cache and report.fixed_post_ids:
        client = redis.Redis.from_url(cache)
        try:
            invalidate_posts(client, report.fixed_post_ids)
        except redis.RedisError as exc:
            fail(DarkroomError(f"the counters are fixed, but clearing the post cache failed: {exc}"))
        finally:
            client.close()
    if as_json:
        print_json(
            {
                "url": where,
                "accounts_checked": report.accounts_checked,
                "accounts_fixed": report.accounts_fixed,
                "posts_checked": report.posts_checked,
                "posts_fixed": report.posts_fixed,
                "cache_cleared": bool(cache and report.fixed_post_ids),
            }
        )
        return
    out().print(
        f"{where}: fixed {report.accounts_fixed} of {report.accounts_checked} accounts and "
        f"{report.posts_fixed} of {report.posts_checked} posts",
        soft_wrap=True,
        markup=False,
    )
    if report.fixed_post_ids and not cache:
        out().print("no Redis reachable: the cached copies of the fixed posts are left as they are", markup=False)


@app.command("sweep-uploads")
def sweep_uploads(
    *,
    url: DatabaseUrlOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete the resumable uploads that got no chunk for DARKROOM_RESUMABLE_LIFETIME_S (their rows
    and their spool files under --home/uploads), and spool files there that no live upload owns:
    what `darkroom social run` does every 5 minutes, once. Run it on each host that takes uploads."""
    from darkroom.social.expiry import sweep_expired
    from darkroom.storage import db

    try:
        settings = settings_for(home)
        engine = db.open_database(url) if url else db.open_database(settings)
    except DarkroomError as exc:
        fail(exc)
    spool_dir = settings.home / "uploads"
    try:
        with engine.begin() as conn:
            swept = sweep_expired(conn, spool_dir=spool_dir, lifetime_s=settings.resumable_lifetime_s)
        where = db.redact_url(engine.url)
    except DarkroomError as exc:
        fail(exc)
    finally:
        engine.dispose()
    if as_json:
        print_json({"url": where, "spool_dir": str(spool_dir), "uploads": swept.uploads, "files": swept.files})
        return
    out().print(
        f"{where}: deleted {swept.uploads} expired uploads; {swept.files} spool files in {spool_dir}",
        soft_wrap=True,
        markup=False,
    )


def _cache_url(url: str | None, settings: Settings) -> str | None:
    if url or settings.redis_url:
        return url or settings.redis_url
    from darkroom.local.redis_server import running_url

    home: Path = settings.home
    return running_url(home)
