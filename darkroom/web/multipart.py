"""``multipart/form-data`` read as it arrives: the small fields before the file, then the file's
bytes as a stream, for ``POST /v1/uploads``.

Starlette's ``request.form()`` parses the whole body into spooled files before a route runs, so a
2 GiB body would land on disk before any size limit could refuse it. Here python-multipart's push
parser is fed one received chunk at a time, only as fast as the reader takes the file's bytes:
the domain's size limit stops the reading, and what the client sends after that is never stored.

Rules: the file is the first part named ``file`` (its ``filename`` is the person's name for it);
fields before it are kept (at most 16, 4 KiB each: a ``csrf_token``), parts after it are skipped.
A body that ends inside the file is refused rather than taken as a shorter file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from enum import Enum

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from darkroom.social.errors import InvalidInput, UnsupportedMedia
from darkroom.web.body_stream import BUFFER_BYTES, BlockingBody

__all__ = ["FORM_CONTENT_TYPE", "FilePart", "StreamedForm"]

FORM_CONTENT_TYPE = "multipart/form-data"
MAX_FIELDS = 16
MAX_FIELD_BYTES = 4096
MAX_HEADER_BYTES = 8192


class _Mode(Enum):
    HEADERS = "headers"
    FIELD = "field"
    FILE = "file"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class FilePart:
    """The file part's name for the file (``""`` when the client sent none) and the fields before it."""

    filename: str
    fields: dict[str, str] = field(default_factory=dict)


class StreamedForm(io.RawIOBase):
    """A form body over ``body``; :meth:`open_file` reads up to the file, then this stream reads
    the file's bytes, and :meth:`finish` reads what is left (the closing boundary)."""

    def __init__(self, body: BlockingBody, content_type: str, *, file_field: str = "file") -> None:
        super().__init__()
        kind, options = parse_options_header(content_type)
        if kind.decode("latin-1") != FORM_CONTENT_TYPE:
            sent = content_type or "no body type"
            raise UnsupportedMedia(
                f"send the file as {FORM_CONTENT_TYPE} with a field {file_field!r}, not {sent!r}", field="Content-Type"
            )
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidInput(f"Content-Type {content_type!r} has no boundary", field="Content-Type")
        self._body = body
        self._file_field = file_field
        self._mode = _Mode.HEADERS
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._value = bytearray()
        self._name = ""
        self._fields: dict[str, str] = {}
        self._part: FilePart | None = None
        self._data = bytearray()  # file bytes of the last chunk parsed, read from ``_pos`` on
        self._pos = 0
        self._file_ended = False
        self._ended = False
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._part_begin,
                    "on_header_field": self._header_field,
                    "on_header_value": self._header_value_data,
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": self._part_data,
                    "on_part_end": self._part_end,
                    "on_end": self._end,
                },
                max_header_size=MAX_HEADER_BYTES,
            )
        except ValueError as exc:  # an over-long boundary
            raise InvalidInput(f"Content-Type {content_type[:100]!r}: {exc}", field="Content-Type") from None

    # -- the parser's callbacks ----------------------------------------------------------------
    def _part_begin(self) -> None:
        self._mode = _Mode.HEADERS
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._part is not None:
            self._mode = _Mode.SKIP  # parts after the file are not read
        elif name == self._file_field:
            # browsers send the name as raw UTF-8 in the quoted string
            filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self._part = FilePart(filename, dict(self._fields))
            self._mode = _Mode.FILE
        else:
            if len(self._fields) >= MAX_FIELDS:
                raise InvalidInput(f"the form has more than {MAX_FIELDS} fields before {self._file_field!r}")
            self._name, self._mode = name, _Mode.FIELD
            self._value.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._mode is _Mode.FILE:
            self._data += data[start:end]
        elif self._mode is _Mode.FIELD:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise InvalidInput(
                    f"form field {self._name!r} is over {MAX_FIELD_BYTES} bytes (only {self._file_field!r} "
                    "may be large)",
                    field=self._name,
                )

    def _part_end(self) -> None:
        if self._mode is _Mode.FILE:
            self._file_ended = True
        elif self._mode is _Mode.FIELD:
            self._fields[self._name] = self._value.decode("utf-8", "replace")
        self._mode = _Mode.SKIP

    def _end(self) -> None:
        self._ended = True

    # -- reading -------------------------------------------------------------------------------
    def _feed(self) -> bool:
        """Parse the next received chunk; False at the end of the body."""
        chunk = self._body.next_chunk()
        if not chunk:
            return False
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise InvalidInput(f"the body is not valid {FORM_CONTENT_TYPE}: {exc}", field="body") from None
        return True

    def open_file(self) -> FilePart:
        """Read up to the start of the file part; :class:`InvalidInput` when the form has none."""
        while self._part is None:
            if self._ended or not self._feed():
                raise InvalidInput(f"the form has no field {self._file_field!r} with the file", field=self._file_field)
        return self._part

    def readable(self) -> bool:
        return True

    def reader(self) -> io.BufferedReader:
        """The file's bytes as the ``BinaryIO`` the domain takes (after :meth:`open_file`)."""
        return io.BufferedReader(self, buffer_size=BUFFER_BYTES)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._part is None:
            self.open_file()
        while self._pos >= len(self._data) and not self._file_ended:
            self._data.clear()
            self._pos = 0
            if not self._feed():
                raise InvalidInput(
                    f"the body ended inside {self._file_field!r}: the upload was cut off", field=self._file_field
                )
        n = min(len(buffer), len(self._data) - self._pos)
        buffer[:n] = memoryview(self._data)[self._pos : self._pos + n]
        self._pos += n
        return n

    def finish(self, *, max_bytes: int = 64 << 10) -> None:
        """Read what follows the file (the closing boundary, skipped parts), at most ``max_bytes``
        more: the connection can then carry the next request."""
        start = self._body.received_bytes
        while not self._ended and self._body.received_bytes - start <= max_bytes and self._feed():
            pass
