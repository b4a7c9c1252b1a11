"""``darkroom users …``: the operator's account commands (create, list, set-password, disable, enable).

They act as the machine's operator (``accounts.OPERATOR``, an admin) straight on the metadata
database: ``--url`` takes ``sqlite:///path`` or ``postgresql://…`` (default:
``DARKROOM_DATABASE_URL``, else SQLite under ``--home``). Passwords come from a hidden prompt
(typed twice) or, for scripts, ``--password-stdin``; never from an argument, where ``ps`` and the
shell's history would show them. A mistake is one line on stderr and exit status 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import redis
import sqlalchemy as sa
import typer
from rich.table import Table
from rich.text import Text

from darkroom.cli._edge import new_app
from darkroom.cli._options import DatabaseUrlOpt, HomeOpt, JsonOpt, settings_for
from darkroom.cli._params import err, fail, out, print_json
from darkroom.errors import DarkroomError
from darkroom.social import account_lifecycle, accounts, credential_cache, passwords, reinstatement
from darkroom.social.errors import InvalidInput, NotFound
from darkroom.social.handles import lookup_handle, normalize_email, normalize_handle
from darkroom.social.viewer import Role
from darkroom.storage import db

__all__ = ["app"]

app = new_app("Accounts of the social product: create, list, set a password, disable, enable.")


PasswordStdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input (one trailing newline is dropped)."),
]


@contextmanager
def _database(url: str | None, home: Path | None) -> Iterator[sa.Engine]:
    """The migrated metadata database; Darkroom's errors end the command with one line."""
    try:
        settings = settings_for(home)
        engine = db.open_database(url) if url else db.open_database(settings)
    except DarkroomError as exc:
        fail(exc)
    try:
        yield engine
    except DarkroomError as exc:
        fail(exc)
    finally:
        engine.dispose()


def _forget_credentials(engine: sa.Engine, home: Path | None, account_id: str) -> bool:
    """Drop the account's credentials from the platform's credential cache (after the revocation
    committed), so a server refuses them at the next request; without a reachable Redis they stop
    working when their cached entries expire (``credential_cache.ENTRY_TTL_S``), said on stderr
    (and ``cache_told: false`` in ``--json``). Whether the cache was told."""
    from darkroom.cli._wiring import wiring_for

    try:
        credential_cache.forget_account(engine, wiring_for(home, None).redis, account_id)
        return True
    except (DarkroomError, redis.RedisError) as exc:
        err().print(
            f"note: the credential cache was not reached ({exc}); servers may accept the account's "
            f"old sessions and tokens for up to {credential_cache.ENTRY_TTL_S} s",
            soft_wrap=True,
            markup=False,
        )
        return False


def _read_password(from_stdin: bool) -> str:
    """The new password, checked before the database is touched."""
    if from_stdin:
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)  # stdout: data only
    try:
        passwords.check_password(password)
    except InvalidInput as exc:
        fail(exc)
    return password


def _existing_handle(handle: str) -> str:
    """``handle`` for a lookup; one no account can have is refused before connecting."""
    key = lookup_handle(handle)
    if key is None:
        fail(NotFound(f"no account {handle!r}"))
    return key


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M")


def _account_json(a: accounts.AccountRow) -> dict[str, object]:
    return {
        "id": a.id,
        "handle": a.handle,
        "email": a.email,
        "display_name": a.display_name,
        "role": a.role.value,
        "private": a.private,
        "disabled": a.disabled,
        "created_at": a.created_at,
        "last_seen_at": a.last_seen_at,
    }


@app.command()
def create(
    handle: Annotated[str, typer.Argument(help="a-z, 0-9 and _, at most 30 (any case; stored lower-case).")],
    *,
    email: Annotated[str, typer.Option("--email", help="The account's email address.")],
    display_name: Annotated[str, typer.Option("--display-name", help="The name shown beside the handle.")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="Make the account an admin.")] = False,
    private: Annotated[bool, typer.Option("--private", help="Followers need approval.")] = False,
    password_stdin: PasswordStdinOpt = False,
    url: DatabaseUrlOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an account; the password is asked for (hidden, twice) or read with --password-stdin."""
    try:  # refuse a bad handle or email before asking for a password
        normalize_handle(handle)
        normalize_email(email)
    except InvalidInput as exc:
        fail(exc)
    password = _read_password(password_stdin)
    with _database(url, home) as engine, engine.begin() as conn:
        account = account_lifecycle.create_account(
            conn,
            handle=handle,
            email=email,
            password=password,
            display_name=display_name,
            role=Role.ADMIN if admin else Role.USER,
            private=private,
        )
    if as_json:
        print_json(_account_json(account))
        return
    role = " (admin)" if account.role is Role.ADMIN else ""
    out().print(f"created @{account.handle}{role}, id {account.id}", soft_wrap=True, markup=False)


@app.command("list")
def list_(
    *,
    url: DatabaseUrlOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List every account but deleted ones, oldest first, disabled ones included."""
    found: list[accounts.AccountRow] = []
    with _database(url, home) as engine, engine.connect() as conn:
        cursor: str | None = None
        while True:
            page = accounts.list_accounts(conn, accounts.OPERATOR, cursor=cursor, limit=100)
            found += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    if as_json:
        print_json([_account_json(a) for a in found])
        return
    table = Table(title=f"{len(found)} accounts")
    for column in ("handle", "email", "display name", "role", "state", "created (UTC)"):
        table.add_column(column, overflow="fold")
    for a in found:
        state = ", ".join(s for s, on in (("disabled", a.disabled), ("private", a.private)) if on) or "active"
        # Text, not str: names people typed must not be read as Rich markup
        table.add_row(*map(Text, (a.handle, a.email, a.display_name, a.role.value, state, _when(a.created_at))))
    out().print(table)


@app.command("set-password")
def set_password(
    handle: Annotated[str, typer.Argument(help="The account's handle.")],
    *,
    password_stdin: PasswordStdinOpt = False,
    url: DatabaseUrlOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set an account's password (asked for, hidden, twice; or --password-stdin). Its sessions and
    tokens are revoked."""
    key = _existing_handle(handle)
    password = _read_password(password_stdin)
    with _database(url, home) as engine:
        with engine.begin() as conn:
            account_id = account_lifecycle.set_password(conn, accounts.OPERATOR, key, password)
        told = _forget_credentials(engine, home, account_id)
    if as_json:
        print_json({"handle": key, "password_set": True, "credentials_revoked": True, "cache_told": told})
        return
    out().print(f"set the password of @{key}; its sessions and tokens are revoked", soft_wrap=True, markup=False)


@app.command()
def disable(
    handle: Annotated[str, typer.Argument(help="The account's handle.")],
    *,
    url: DatabaseUrlOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Disable an account: it cannot sign in, its sessions and tokens are revoked, nobody finds it."""
    key = _existing_handle(handle)
    with _database(url, home) as engine:
        with engine.begin() as conn:
            account = account_lifecycle.disable_account(conn, accounts.OPERATOR, key)
        told = _forget_credentials(engine, home, account.id)
    if as_json:
        print_json(_account_json(account) | {"cache_told": told})
        return
    out().print(f"disabled @{account.handle}", soft_wrap=True, markup=False)


@app.command()
def enable(
    handle: Annotated[str, typer.Argument(help="The disabled account's handle.")],
    *,
    url: DatabaseUrlOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Enable a disabled account: it is found and can sign in again. The sessions and tokens revoked
    when it was disabled stay revoked: the person signs in anew."""
    key = _existing_handle(handle)
    with _database(url, home) as engine, engine.begin() as conn:
        account = reinstatement.enable_account(conn, accounts.OPERATOR, key)
    if as_json:
        print_json(_account_json(account))
        return
    done = f"enabled @{account.handle}; it signs in anew (its old sessions and tokens stay revoked)"
    out().print(done, soft_wrap=True, markup=False)
