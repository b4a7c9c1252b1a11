"""``darkroom seed --sample``: a few accounts, follows, posts of generated photos and a clip, likes
and comments on a running platform, so a newcomer sees a live feed at once.

The platform is the one at ``--home`` (its private redis-server) or ``--url`` (its Redis), with its
metadata database (``DARKROOM_DATABASE_URL``, else SQLite under the home); its workers process the
media and its social runner settles the posts (``darkroom up`` runs both). A second run adds
nothing; the sample data set is :mod:`darkroom.cli.demos.social_sample`.
"""

from __future__ import annotations

import secrets
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from darkroom.cli._options import HomeOpt, JsonOpt, RedisUrlOpt

if TYPE_CHECKING:
    from darkroom.cli.demos.seeding import SeedReport

__all__ = ["seed"]


def seed(
    *,
    sample: Annotated[bool, typer.Option("--sample", help="Seed the sample data set (the only one so far).")] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the new accounts' password from standard input (default: a random one, printed once).",
        ),
    ] = False,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", min=1.0, max=3600.0, help="How long to wait for the media to be processed.")
    ] = 300.0,
    home: HomeOpt = None,
    url: RedisUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create sample accounts (one private), follows, posts of generated photos and a clip through the
    real media workflows, likes and comments, on the running platform (darkroom up)."""
    import redis

    from darkroom.cli._params import fail, print_json
    from darkroom.cli._wiring import wiring_for
    from darkroom.cli.demos.seeding import Waiting, plant
    from darkroom.cli.demos.social_sample import SAMPLE
    from darkroom.errors import DarkroomError
    from darkroom.social import passwords
    from darkroom.social.errors import InvalidInput

    if not sample:
        raise typer.BadParameter("say what to seed: --sample is the only data set so far", param_hint="'--sample'")
    password = secrets.token_urlsafe(12)
    if password_stdin:
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
        try:
            passwords.check_password(password)
        except InvalidInput as exc:
            fail(exc)
    console = Console(stderr=as_json, highlight=False)
    w = wiring_for(home, url)
    try:
        w.redis.ping()
    except redis.RedisError as exc:
        fail(DarkroomError(f"cannot reach the platform's Redis ({exc}): is it running? Start it with darkroom up"))
    try:
        with console.status("seeding the sample…") as status:

            def waiting(progress: Waiting) -> None:
                status.update(
                    f"processing the media: {progress.ready}/{progress.total} posts ready ({progress.elapsed_s:.0f}s)"
                )

            report = plant(w, SAMPLE, password=password, timeout_s=timeout_s, on_wait=waiting)
    except DarkroomError as exc:
        fail(exc)
    finally:
        w.close()
    address = w.settings.http_addr
    if as_json:
        print_json(_summary(report, password, address))
    else:
        _render(console, report, password, address)
    if not report.settled:
        late = [p for p in report.posts if p.state.value == "processing"]
        failed = [p for p in report.posts if p.state.value == "failed"]
        detail = f"{len(late)} post(s) still processing after {report.waited_s:.0f}s" if late else ""
        if failed:
            detail += ("; " if detail else "") + f"{len(failed)} failed ({', '.join(p.key for p in failed)})"
        fail(
            DarkroomError(
                f"{detail}: {report.skipped} like(s) and comment(s) left out. Are the platform's workers and "
                "social runner running (darkroom up)? Run darkroom seed --sample again to finish"
            )
        )


def _summary(report: SeedReport, password: str, address: str) -> dict[str, object]:
    added = report.added
    return {
        "http": f"http://{address}",
        "nothing_added": added.nothing,
        "added": {
            "accounts": added.accounts,
            "follows": added.follows,
            "posts": added.posts,
            "likes": added.likes,
            "comments": added.comments,
        },
        "accounts": [
            {"handle": a.handle, "private": a.private, "created": a.handle in report.created} for a in report.accounts
        ],
        # only the accounts made by this run have it; it is shown once, here
        "password": password if report.created else None,
        "posts": [
            {"id": p.id, "author": p.author, "caption": p.caption, "state": p.state.value, "media": p.media}
            for p in report.posts
        ],
        "skipped": report.skipped,
    }


def _render(console: Console, report: SeedReport, password: str, address: str) -> None:
    added = report.added
    if added.nothing:
        console.print(
            f"the sample is there already ({len(report.accounts)} accounts, {len(report.posts)} posts): nothing added"
        )
    else:
        console.print(
            f"seeded the sample: added {added.accounts} accounts, {added.follows} follows, {added.posts} posts, "
            f"{added.likes} likes, {added.comments} comments",
            soft_wrap=True,
        )
    table = Table("handle", "name", "account", "posts")
    for account in report.accounts:
        count = sum(p.author == account.handle for p in report.posts)
        kind = "private" if account.private else "public"
        table.add_row(Text(f"@{account.handle}"), Text(account.display_name), kind, str(count))
    console.print(table)
    if report.created:
        handles = ", ".join(f"@{h}" for h in report.created)
        console.print(f"password of {handles} (shown once): [bold]{escape(password)}[/]", soft_wrap=True)
    base = f"http://{address}"
    console.print(
        f"the API: {escape(base)}/openapi.json · sign in: POST {escape(base)}/v1/sessions "
        '{"login": "ana", "password": …} · then GET /v1/feed, /v1/accounts/ana/posts, /v1/tags/sunset/posts',
        soft_wrap=True,
    )
