"""Logs of every Darkroom process: one JSON object per line, or text for a person at a terminal.

A JSON line holds ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``message``,
the ids of :mod:`darkroom.log_context` that are set (``request_id``, ``workflow_id``, ``step``,
``task_id``), ``exc`` (the traceback) when there is one, and any ``extra=`` fields. Everything is
JSON-escaped, so a user's text in a message (a newline, a quote) cannot forge another line.

``DARKROOM_LOG_FORMAT``: ``json``, ``text`` or ``auto`` (the default: text when stderr is a
terminal, else JSON: ``darkroom up``'s children write files, a service manager collects pipes).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import sys
from typing import Any, TextIO

from darkroom.log_context import current
from darkroom.observability.errors import InvalidLogFormat

__all__ = ["JsonFormatter", "LogFormat", "TextFormatter", "configure_logging"]

# what every LogRecord has: the rest came from ``extra=`` and is written out too
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class LogFormat(enum.StrEnum):
    JSON = "json"
    TEXT = "text"
    AUTO = "auto"

    @classmethod
    def parse(cls, raw: str) -> LogFormat:
        try:
            return cls(raw.strip().lower() or "auto")
        except ValueError:
            names = ", ".join(f.value for f in cls)
            raise InvalidLogFormat(f"DARKROOM_LOG_FORMAT={raw!r} must be one of {names}") from None

    def resolved(self, stream: TextIO) -> LogFormat:
        """JSON or TEXT: ``AUTO`` is text on a terminal."""
        if self is not LogFormat.AUTO:
            return self
        isatty = getattr(stream, "isatty", None)
        return LogFormat.TEXT if isatty is not None and isatty() else LogFormat.JSON


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(current())
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii: a line is pure ASCII, whatever a user wrote (no terminal escapes either)
        return json.dumps(line, default=str, ensure_ascii=True)


class TextFormatter(logging.Formatter):
    """``time logger LEVEL message [ids]`` for a person; control characters in the message are
    escaped (a newline in a user's text does not start a forged line)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        message = record.message
        if not message.isprintable():
            record.message = message.encode("unicode_escape").decode("ascii")
        try:
            text = super().formatMessage(record)
        finally:
            record.message = message
        ids = current()
        return f"{text} [{' '.join(f'{k}={v}' for k, v in ids.items())}]" if ids else text


def configure_logging(
    fmt: LogFormat | str = LogFormat.AUTO, *, level: int = logging.INFO, stream: TextIO | None = None
) -> LogFormat:
    """Send every logger's records to ``stream`` (stderr) in ``fmt``, replacing the root logger's
    handlers (uvicorn's own logging is turned off where the HTTP server starts, so its lines come
    here too); answers the format chosen."""
    out = sys.stderr if stream is None else stream
    chosen = (LogFormat.parse(fmt) if isinstance(fmt, str) else fmt).resolved(out)
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if chosen is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations log every plugin at INFO
    return chosen
