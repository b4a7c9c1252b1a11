"""The CLI's edge: every error a command lets through becomes one escaped line on stderr.

A person's mistake (a usage error, an unknown id, an unreachable platform, a port in use) must
never print a stack trace. :class:`DarkroomGroup` is the click group of every Typer app of the
``darkroom`` command; its ``main`` runs the command in click's non-standalone mode and turns:

- click usage errors (bad option values, unknown options) into ``error: …`` and exit status 2;
- Darkroom's typed errors, connection errors (Redis, gRPC, the database) and ``OSError`` into
  ``error: …`` and exit status 1;
- anything else (a bug) into ``error: internal error: …`` and exit status 1.

``--debug`` (anywhere before a ``--``: ``darkroom --debug workflow list`` or ``darkroom workflow
list --debug``) or ``DARKROOM_DEBUG=1`` lets the exception through with its traceback. Text
from users and errors is never read as Rich markup (``[codes]`` stay as typed). gRPC's own log
lines are off unless debugging (:func:`quiet_grpc`), so a refused port reads as our one line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from darkroom.errors import DarkroomError

__all__ = [
    "DEBUG_ENV", "DEBUG_FLAG", "USAGE_EXIT", "DarkroomGroup", "debug_requested", "error_line", "new_app", "print_error",
    "quiet_grpc",
]  # fmt: skip

USAGE_EXIT = 2
DEBUG_ENV = "DARKROOM_DEBUG"
DEBUG_FLAG = "--debug"
GRPC_VERBOSITY_ENV = "GRPC_VERBOSITY"


def new_app(help: str, **options: Any) -> typer.Typer:
    """A Typer app with the edge's group, no pretty exceptions and literal help text (no markup)."""
    return typer.Typer(
        help=help,
        cls=DarkroomGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        **options,
    )


def debug_requested(args: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` is among ``args`` (anywhere before ``--``) or ``DARKROOM_DEBUG`` is 1,
    and ``args`` without the flag: every command accepts it, so no command declares it."""
    end = args.index("--") if "--" in args else len(args)
    rest = [arg for arg in args[:end] if arg != DEBUG_FLAG] + list(args[end:])
    from_env = os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes")
    return from_env or len(rest) < len(args), rest


def quiet_grpc(debug: bool) -> None:
    """Keep gRPC's C core from logging on stderr (``E… add_port.cc… Address already in use``
    above our own line): it reads ``GRPC_VERBOSITY`` once, when ``grpc`` is first imported, so
    this runs before any command. ``--debug`` or a ``GRPC_VERBOSITY`` of the user's own keeps
    gRPC's logging."""
    if not debug and "grpc" not in sys.modules:
        os.environ.setdefault(GRPC_VERBOSITY_ENV, "NONE")


def error_line(exc: BaseException, *, expected: bool = False) -> str:
    """What a person reads for ``exc``: one line, naming the offending value when the error does.

    ``expected``: the caller caught ``exc`` on purpose (e.g. gRPC's ``RuntimeError`` for a port it
    cannot bind), so it is not reported as an internal error."""
    if isinstance(exc, typer.TyperException):  # click's errors (Typer ships its own click)
        message = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        if exc.exit_code == USAGE_EXIT and ctx is not None:
            message += f" (see '{ctx.command_path} --help')"
        return _one_line(message)
    if isinstance(exc, DarkroomError):
        return _one_line(str(exc))
    known = _connection_line(exc)
    if known is not None:
        return _one_line(known)
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        where = f": {exc.filename}" if exc.filename else ""
        return _one_line(f"{what}{where}")
    if expected:
        return _one_line(str(exc))
    return _one_line(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")


def _connection_line(exc: BaseException) -> str | None:
    """Errors of the clients we use (Redis, gRPC, SQLAlchemy), imported lazily: they are heavy."""
    module = type(exc).__module__
    if module.startswith("redis"):
        return f"Redis: {exc}"
    if module.startswith("grpc"):
        code = getattr(exc, "code", None)
        details = getattr(exc, "details", None)
        if callable(code) and callable(details):
            return f"gRPC {getattr(code(), 'name', code())}: {details()}"
        return f"gRPC: {exc}"
    if module.startswith("sqlalchemy"):
        original = getattr(exc, "orig", None)
        return f"database: {original if original is not None else exc}"
    return None


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip()) or "(no message)"


def print_error(message: str) -> None:
    """``error: message`` on stderr; the message is plain text, never markup."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(Text.assemble(("error: ", "bold red"), message))


def _exit_code(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, typer.TyperException) else 1


class DarkroomGroup(TyperGroup):
    """The click group of every ``darkroom`` Typer app: see the module docstring."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:  # the caller handles errors itself
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        debug, argv = debug_requested(list(sys.argv[1:] if args is None else args))
        quiet_grpc(debug)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Exit as done:
            sys.exit(done.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a group without a command: its help
                typer.echo(exc.format_message(), err=True)
                sys.exit(exc.exit_code)
            self._fail(exc)
        except Exception as exc:
            if debug:
                raise
            self._fail(exc)
        sys.exit(rv if isinstance(rv, int) else 0)

    @staticmethod
    def _fail(exc: BaseException) -> NoReturn:
        print_error(error_line(exc))
        sys.exit(_exit_code(exc))
