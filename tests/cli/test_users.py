"""``darkroom users …`` through Typer's runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from darkroom.cli import app
from darkroom.social import passwords
from darkroom.storage.db import open_database
from darkroom.storage.schema import accounts

runner = CliRunner()
ENV = {"DARKROOM_DEBUG": None, "DARKROOM_DATABASE_URL": None}


def users(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["users", *args], input=input, env=ENV)


def ok(*args: str, input: str | None = None) -> Any:
    result = users(*args, input=input)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


def refused(*args: str, input: str | None = None, exit_code: int = 1) -> str:
    result = users(*args, input=input)
    assert result.exit_code == exit_code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    return str(lines[0])


def stored_hash(url: str, handle: str) -> str:
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            return str(
                conn.execute(sa.select(accounts.c.password_hash).where(accounts.c.handle == handle)).scalar_one()
            )
    finally:
        engine.dispose()


def test_create_list_set_password_disable(database_url: str) -> None:
    url = ("--url", database_url)
    made = ok(
        "create",
        "Alice",
        "--email",
        "Alice@Example.com",
        "--admin",
        "--password-stdin",
        *url,
        "--json",
        input="first password\n",
    )
    assert (made["handle"], made["email"], made["role"], made["disabled"]) == (
        "alice",
        "alice@example.com",
        "admin",
        False,
    )
    assert "password" not in json.dumps(made)
    assert passwords.verify_password(stored_hash(database_url, "alice"), "first password")
    out = ok("create", "bob", "--email", "bob@example.com", "--private", "--display-name", "[b]Bob[/b]", *url,
             input="bob password\nbob password\n")  # fmt: skip
    assert out.splitlines()[-1].startswith("created @bob, id ")  # above it: the runner echoes hidden input
    listed = ok("list", *url, "--json")
    assert [(a["handle"], a["private"]) for a in listed] == [("alice", False), ("bob", True)]
    table = ok("list", *url)
    assert "[b]Bob[/b]" in table and "private" in table  # names are text, not markup

    result = users("set-password", "ALICE", "--password-stdin", *url, "--json", input="second password\n")
    assert result.exit_code == 0, result.output
    told = json.loads(result.stdout)["cache_told"]  # whether the servers' credential cache was told
    assert told is True or (told is False and "for up to 300 s" in result.stderr)
    assert passwords.verify_password(stored_hash(database_url, "alice"), "second password")
    assert not passwords.verify_password(stored_hash(database_url, "alice"), "first password")
    disabled = ok("disable", "bob", *url, "--json")
    assert disabled["disabled"] is True and isinstance(disabled["cache_told"], bool)
    assert ok("disable", "bob", *url).strip() == "disabled @bob"  # twice: fine
    assert [a["disabled"] for a in ok("list", *url, "--json")] == [False, True]


def test_mistakes_are_one_line(database_url: str) -> None:
    url = ("--url", database_url)
    ok("create", "alice", "--email", "alice@example.com", "--password-stdin", *url, input="first password\n")
    cases = [
        (("create", "alice", "--email", "x@example.com", "--password-stdin"), "p" * 8, "the handle @alice is taken"),
        (("create", "al1ce", "--email", "ALICE@example.com", "--password-stdin"), "p" * 8, "already has an account"),
        (
            ("create", "\u0430lice", "--email", "a@example.com", "--password-stdin"),
            "p" * 8,
            "looks like another character",
        ),
        (("create", "h" * 31, "--email", "a@example.com", "--password-stdin"), "p" * 8, "31 characters long"),
        (("create", "bob", "--email", "bob", "--password-stdin"), "p" * 8, "not an email address"),
        (("create", "bob", "--email", "b@example.com", "--password-stdin"), "short", "5 characters long"),
        (("create", "bob", "--email", "b@example.com", "--password-stdin"), "p" * 257, "257 characters long"),
        (("set-password", "nobody", "--password-stdin"), "p" * 8, "no account 'nobody'"),
        (("set-password", "no-such!", "--password-stdin"), "p" * 8, "no account 'no-such!'"),
        (("disable", "nobody"), None, "no account 'nobody'"),
    ]
    for args, stdin, message in cases:
        line = refused(*args, *url, input=stdin)
        assert message in line, (args, line)
        assert stdin is None or stdin not in line  # a password is never echoed
    assert [a["handle"] for a in ok("list", *url, "--json")] == ["alice"]


def test_enable_undoes_disable_and_refuses_what_it_cannot_undo(database_url: str) -> None:
    url = ("--url", database_url)
    ok("create", "alice", "--email", "alice@example.com", "--password-stdin", *url, input="first password\n")
    ok("create", "bob", "--email", "bob@example.com", "--password-stdin", *url, input="bob password\n")
    ok("disable", "alice", *url)
    out = ok("enable", "ALICE", *url)
    assert out.strip() == "enabled @alice; it signs in anew (its old sessions and tokens stay revoked)"
    assert [a["disabled"] for a in ok("list", *url, "--json")] == [False, False]
    ok("disable", "bob", *url)
    enabled = ok("enable", "bob", *url, "--json")
    assert (enabled["handle"], enabled["disabled"]) == ("bob", False)
    for handle, message in (
        ("alice", "@alice is not disabled: there is nothing to enable"),
        ("nobody", "no account 'nobody'"),
        ("no-such!", "no account 'no-such!'"),
    ):
        line = refused("enable", handle, *url)
        assert message in line, (handle, line)
    assert [a["disabled"] for a in ok("list", *url, "--json")] == [False, False]


def test_a_typed_password_must_match_its_confirmation(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = users("create", "alice", "--email", "a@example.com", "--url", url, input="one password\ntwo password\n")
    assert result.exit_code != 0 and "do not match" in result.output.lower()
    assert ok("list", "--url", url, "--json") == []


def test_passwords_are_never_arguments() -> None:
    assert "No such option: --password" in refused(
        "create", "alice", "--email", "a@example.com", "--password", "x", exit_code=2
    )


@pytest.mark.parametrize("url", ["garbage", "postgresql://nobody:secret@127.0.0.1:1/none"])
def test_an_unreachable_database_is_one_line(url: str) -> None:
    line = refused("list", "--url", url)
    assert "secret" not in line
