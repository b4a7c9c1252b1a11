"""No traceback for a person's mistake: every ``darkroom`` command answers bad arguments, an
unreachable platform and unknown names with one ``error:`` line and a non-zero exit.

The sweep walks the Typer app, so a new command is covered without touching this file.
"""

from __future__ import annotations

import enum
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from darkroom.cli import app
from darkroom.cli._edge import debug_requested
from darkroom.cli._options import check_queue_url, check_redis_url

runner = CliRunner()
# Commands that start processes of their own; they are run only with arguments refused at parse
# time (the assertion below keeps this list honest when commands are renamed).
STARTS_SOMETHING = {
    ("up",),
    ("demo",),
    ("process",),
    ("queue", "serve"),
    ("queue", "demo"),
    ("http",),
    ("social", "run"),
}
# Commands that start a private platform of their own (they take --home, not --url).
OWN_PLATFORM = {("demo",), ("process",), ("queue", "demo")}
# Flags a command needs before it does anything (without them it is a usage error).
CHOICE_FLAGS = {("seed",): ["--sample"]}
# Every command prints data, and so takes --json, but those that run until stopped.
NO_JSON = {
    ("up",), ("worker",), ("engine",), ("queue", "serve"), ("http",), ("social", "run"), ("analytics", "ingest"),
    ("analytics", "scheduler"),
}  # fmt: skip
# A probe's exit codes: 2 is "critical", and a Redis it cannot reach is that (docs/observability.md)
UNREACHABLE_EXIT = {("health",): 2}


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name, sub in sorted(subcommands.items()):
        yield from _leaves(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = dict(_leaves(ROOT))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _annotation(param: Any) -> Any:
    return getattr(getattr(param, "type_descriptor", None), "annotation", None)


def _required(command: Any) -> list[str]:
    """Garbage for every required argument and option, so the case reaches what it tests."""
    args: list[str] = []
    for param in command.params:
        if param.required:
            args += ["garbage-value"] if param.param_type_name == "argument" else [param.opts[0], "garbage-value"]
    return args


def _takes_redis_url(param: Any) -> bool:
    # Typer wraps callbacks; the wrapper keeps the name
    return getattr(param.callback, "__name__", None) in {check_redis_url.__name__, check_queue_url.__name__}


def _option(command: Any, name: str) -> Any:
    return next((p for p in command.params if name in getattr(p, "opts", ())), None)


def _bad_values(command: Any) -> Iterator[tuple[str, str]]:
    """(option, value) pairs every command must refuse at parse time."""
    for param in command.params:
        if param.param_type_name != "option" or param.is_flag or not param.opts[0].startswith("--"):
            continue
        option, kind = param.opts[0], _annotation(param)
        if _takes_redis_url(param):
            yield from ((option, v) for v in ("garbage", "http://example.com", "redis://host:99999", "unix://"))
        elif option == "--deadline":
            yield from ((option, v) for v in ("+5", "soon", "1700000000"))
        elif option == "--grpc-addr":
            yield from ((option, v) for v in ("127.0.0.1:99999", "no-port", ":50051"))
        elif kind in (int, float):
            yield option, "not-a-number"
            if param.max is not None:
                yield option, str(param.max + 1)
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            yield option, "bogus"


@dataclass(frozen=True)
class Case:
    path: tuple[str, ...]
    args: tuple[str, ...]
    exit_code: int

    def __str__(self) -> str:
        return " ".join((*self.path, *self.args))


def _takes_grpc_url(param: Any) -> bool:
    return getattr(param.callback, "__name__", None) == check_queue_url.__name__


def _cases(home: Path, silent: str) -> Iterator[Case]:
    """``silent``: a host:port that takes connections and never answers."""
    dead = f"127.0.0.1:{_closed_port()}"
    for path, command in COMMANDS.items():
        required = _required(command) + CHOICE_FLAGS.get(path, [])
        yield Case(path, (*required, "--no-such-option"), 2)
        for option, value in _bad_values(command):
            yield Case(path, (*required, f"{option}={value}"), 2)
        url = _option(command, "--url")
        if url is None:
            continue
        if _takes_grpc_url(url):  # a queue server refusing the connection, and one never answering
            yield Case(path, (*required, "--home", str(home), "--url", f"grpc://{dead}"), 1)
            yield Case(path, (*required, "--home", str(home), "--url", f"grpc://{silent}"), 1)
        if _takes_redis_url(url):
            unreachable = UNREACHABLE_EXIT.get(path, 1)
            yield Case(path, (*required, "--home", str(home), "--url", f"redis://{dead}"), unreachable)
            if path not in STARTS_SOMETHING:  # nothing runs under this home
                yield Case(path, (*required, "--home", str(home)), unreachable)
        else:  # the metadata database's URL
            yield Case(path, (*required, "--url", f"postgresql://nobody:pw@{dead}/none"), 1)
            yield Case(path, (*required, "--url", "garbage"), 1)


def _assert_one_error_line(result: Any, case: object) -> str:
    assert "Traceback" not in result.output, f"{case}:\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{case}: {result.exception!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{case}:\n{result.stderr}"
    assert result.stdout == "", f"{case}: {result.stdout}"
    return str(lines[0])


def test_the_sweep_knows_every_command() -> None:
    assert COMMANDS.keys() >= STARTS_SOMETHING | NO_JSON | OWN_PLATFORM
    assert len(COMMANDS) >= 20


def test_every_command_answers_bad_arguments_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Typer's runner rebuilds the command from the app on every call (0.15 s); build it once
    monkeypatch.setattr("typer.testing._get_command", lambda _app: ROOT)
    home = tmp_path / "home"
    with socket.socket() as silent:  # listens (the kernel completes connections) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        cases = list(_cases(home, f"127.0.0.1:{silent.getsockname()[1]}"))
        assert len(cases) > 60
        grpc_cases = {case.path for case in cases if "grpc://" in " ".join(case.args)}
        assert grpc_cases == {p for p in COMMANDS if p[0] == "queue"} - STARTS_SOMETHING  # every queue client command
        env = {"DARKROOM_HOME": str(home), "DARKROOM_REDIS_URL": None, "DARKROOM_DATABASE_URL": None,
               "DARKROOM_DEBUG": None, "COLUMNS": "80", "DARKROOM_GRPC_CONNECT_TIMEOUT_S": "0.2"}  # fmt: skip
        for case in cases:
            result = runner.invoke(app, [*case.path, *case.args], env=env)
            assert result.exit_code == case.exit_code, f"{case}: exit {result.exit_code}\n{result.output}"
            line = _assert_one_error_line(result, case)
            if "grpc://" in str(case):
                assert "UNAVAILABLE" in line or "did not answer within 0.2s" in line, f"{case}: {line}"
    assert not (home / "redis").exists()  # nothing was started


def test_platform_commands_take_home_and_url_and_data_commands_json() -> None:
    for path, command in COMMANDS.items():
        options = {opt for p in command.params for opt in getattr(p, "opts", ())}
        if "--url" in options:
            assert "--home" in options, path
        if path in OWN_PLATFORM:  # they start a private platform under --home
            assert "--home" in options and "--url" not in options, path
        elif path[0] in ("queue", "workflow") or path in {
            ("up",),
            ("worker",),
            ("engine",),
            ("http",),
            ("social", "run"),
        }:
            assert {"--home", "--url"} <= options, path
        if path not in NO_JSON:
            assert "--json" in options, path


# -- the findings, one by one ----------------------------------------------------------------------
def invoke(*args: str, **env: str | None) -> Any:
    return runner.invoke(app, list(args), env={"DARKROOM_DEBUG": None, "DARKROOM_REDIS_URL": None} | env)


@pytest.fixture
def platform_args(redis_url: str, redis_client: Any, tmp_path: Path) -> list[str]:
    """--home and --url of a reachable Redis with a fresh SQLite database (no engine needed)."""
    return ["--home", str(tmp_path / "home"), "--url", redis_url]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start", "no.such.flow"], "no workflow definition named 'no.such.flow'"),
        (["start", "sample.scores", "-i", "n=3"], "missing inputs ['salt']"),
        (["start", "sample.scores", "-i", "n=3", "-i", "salt=x", "-i", "zz=1"], "unknown inputs ['zz']"),
        (["start", "sample.scores", "-i", "n=abc", "-i", "salt=x"], "input 'n'='abc' does not fit plan(n: int)"),
        (["status", "wf_nope"], "no workflow run 'wf_nope'"),
        (["cancel", "wf_nope"], "no workflow run 'wf_nope'"),
    ],
)
def test_workflow_mistakes_are_one_line(platform_args: list[str], args: list[str], message: str) -> None:
    result = invoke("workflow", *args, *platform_args)
    assert result.exit_code == 1
    assert message in _assert_one_error_line(result, args)


def test_bad_priority_and_state_are_usage_errors(platform_args: list[str]) -> None:
    for args in (["start", "sample.scores", "--priority", "urgent"], ["list", "--state", "bogus"]):
        result = invoke("workflow", *args, *platform_args)
        assert result.exit_code == 2
        line = _assert_one_error_line(result, args)
        assert ("'urgent'" in line or "'bogus'" in line) and "--help" in line


def test_a_good_start_prints_the_run_id_alone_and_coerces_inputs(platform_args: list[str]) -> None:
    result = invoke("workflow", "start", "sample.scores", "-i", "n=2", "-i", "salt=123", *platform_args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wf_") and len(result.stdout.splitlines()) == 1
    shown = invoke("workflow", "status", result.stdout.strip(), "--json", *platform_args)
    assert '"salt": "123"' in shown.stdout and '"n": 2' in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["workflow", "list"], "no Redis: pass --url"),
        (["worker"], "no Redis: pass --url"),
        (["engine"], "no Redis: pass --url"),
        (["queue", "stats", "--once"], "no private redis-server is running"),
    ],
)
def test_no_platform_running_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke(*args, "--home", str(tmp_path))
    assert result.exit_code == 1 and message in _assert_one_error_line(result, args)


@pytest.mark.parametrize("url", ["garbage", "http://example.com:80", "redis://h:99999", "grpc://hostonly"])
def test_a_bad_url_is_refused_naming_it(url: str) -> None:
    result = invoke("queue", "stats", "--url", url)
    assert result.exit_code == 2 and repr(url) in _assert_one_error_line(result, url)


def test_a_grpc_address_out_of_range_is_refused() -> None:
    result = invoke("queue", "serve", "--grpc-addr", "127.0.0.1:99999")
    assert result.exit_code == 2 and "'127.0.0.1:99999'" in _assert_one_error_line(result, "grpc-addr")


def test_a_deadline_without_unit_is_refused() -> None:
    result = invoke("queue", "enqueue", "q", "x", "--deadline", "+5", "--url", "redis://127.0.0.1:1")
    assert result.exit_code == 2 and "'+5' has no unit" in _assert_one_error_line(result, "deadline")


def test_a_metrics_port_in_use_is_named(redis_url: str, redis_client: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("queue", "serve", "--url", redis_url, "--no-grpc", "--metrics-port", str(port))
    assert result.exit_code == 1
    assert f"cannot serve /metrics on 127.0.0.1:{port}" in _assert_one_error_line(result, "metrics")


def test_error_text_is_never_markup(tmp_path: Path) -> None:
    (tmp_path / "holiday [").mkdir()
    junk = tmp_path / "holiday [/x] [bold]{0,99}.mov"  # a folder "holiday [" and a file "x] [bold]…"
    junk.write_bytes(b"\x00not media\x01" * 40)
    result = invoke("process", str(junk), "--out", str(tmp_path / "out"), "--home", str(tmp_path / "home"))
    assert result.exit_code == 1
    assert "holiday [/x] [bold]{0,99}.mov" in _assert_one_error_line(result, "markup")
    result = invoke("queue", "create", "--help")
    assert "[a-z0-9][a-z0-9_.-]*" in result.stdout  # help text is literal too


@pytest.mark.parametrize(
    ("before", "after", "env"),
    [(["--debug"], [], {}), ([], ["--debug"], {}), ([], [], {"DARKROOM_DEBUG": "1"})],
    ids=["before the command", "after the command", "environment"],
)
def test_debug_shows_the_traceback(tmp_path: Path, before: list[str], after: list[str], env: dict[str, str]) -> None:
    code = "from darkroom.cli import main; main()"
    command = ["workflow", "list", "--home", str(tmp_path)]
    argv = [sys.executable, "-c", code, *before, *command, *after]
    environ = {k: v for k, v in os.environ.items() if k != "DARKROOM_DEBUG"}
    with_debug = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=environ | env)
    assert with_debug.returncode == 1 and "Traceback" in with_debug.stderr and "ConfigError" in with_debug.stderr
    plain_argv = [sys.executable, "-c", code, *command]
    plain = subprocess.run(plain_argv, capture_output=True, text=True, timeout=60, check=False, env=environ)
    assert plain.returncode == 1 and plain.stderr.startswith("error: no Redis") and "Traceback" not in plain.stderr
    assert len(plain.stderr.splitlines()) == 1


def test_debug_after_a_double_dash_is_an_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DARKROOM_DEBUG", raising=False)
    literal = ["workflow", "start", "x", "--", "--debug"]
    assert debug_requested(literal) == (False, literal)
    assert debug_requested(["queue", "--debug", "list"]) == (True, ["queue", "list"])


@pytest.mark.parametrize(
    ("value", "named"), [("0", "=0.0 must be"), ("-1", "=-1.0 must be"), ("nan", "=nan must be"), ("soon", "='soon'")]
)
def test_a_bad_connect_timeout_is_refused_naming_it(value: str, named: str) -> None:
    result = invoke("queue", "stats", "--once", "--url", "grpc://127.0.0.1:1", DARKROOM_GRPC_CONNECT_TIMEOUT_S=value)
    assert result.exit_code == 1
    assert f"DARKROOM_GRPC_CONNECT_TIMEOUT_S{named}" in _assert_one_error_line(result, value)


def test_an_unreachable_grpc_server_is_one_line() -> None:
    dead = f"grpc://127.0.0.1:{_closed_port()}"
    result = invoke("queue", "stats", "--once", "--url", dead)
    assert result.exit_code == 1 and "UNAVAILABLE" in _assert_one_error_line(result, dead)
