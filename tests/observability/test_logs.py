"""The log formats: one JSON object per line with the context's ids, text for a terminal, a
user's text escaped in both, and a bad ``DARKROOM_LOG_FORMAT`` named."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from darkroom.log_context import log_context
from darkroom.observability.errors import InvalidLogFormat
from darkroom.observability.logs import LogFormat, configure_logging


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_json_lines_carry_the_ids_extra_fields_and_the_traceback() -> None:
    out = io.StringIO()
    assert configure_logging("JSON", stream=out) is LogFormat.JSON
    log = logging.getLogger("darkroom.test")
    with log_context(request_id="r1", workflow_id="wf_1", step="encode"):
        log.info("caption %r", 'a"b\nc', extra={"post_id": "p1"})
        with log_context(task_id="wf_1:encode:0"):
            try:
                raise ValueError("boom")
            except ValueError:
                log.exception("failed")
    log.info("outside")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["message"] == "caption 'a\"b\\nc'" and first["post_id"] == "p1"
    assert (first["request_id"], first["workflow_id"], first["step"]) == ("r1", "wf_1", "encode")
    assert "task_id" not in first
    assert second["task_id"] == "wf_1:encode:0" and "ValueError: boom" in second["exc"]
    assert second["level"] == "ERROR" and second["logger"] == "darkroom.test"
    assert not {"request_id", "workflow_id", "step", "task_id"} & set(third)


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert configure_logging("auto", stream=io.StringIO()) is LogFormat.JSON
    terminal = _Terminal()
    assert configure_logging("", stream=terminal) is LogFormat.TEXT
    with log_context(request_id="r2"):
        logging.getLogger("darkroom.test").warning("line one\nforged line")
    text = terminal.getvalue()
    assert text.count("\n") == 1  # the user's newline is escaped
    assert "line one\\nforged line [request_id=r2]" in text


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(InvalidLogFormat, match="'yaml'"):
        configure_logging("yaml", stream=io.StringIO())


def test_an_unknown_context_field_is_refused() -> None:
    with pytest.raises(TypeError, match="'user'"), log_context(user="x"):
        pass
