"""Where Darkroom errors become gRPC statuses, and statuses become errors again, by a table each
service passes in (like Starlette's exception handlers): this module knows no domain error.

Server side, :func:`status_for` picks the code from the service's :class:`StatusTable` and puts
the exception's class name and offending field in trailing metadata; client side,
:func:`error_from_rpc` rebuilds the same typed exception with the same message from the same
table, so code written against a local store or queue catches the same errors over gRPC.

How a table picks a code (by meaning, per the gRPC status guide):

==============================================  ==========================================
the nearest class of the error's MRO in         that table's code (``codes``); the queue's
``codes``                                       table is in ``darkroom.queue.statuses``
other errors that inherit a builtin             ValueError -> INVALID_ARGUMENT, LookupError ->
                                                NOT_FOUND, PermissionError -> PERMISSION_DENIED,
                                                ConnectionError -> UNAVAILABLE
any other ``DarkroomError``                     UNKNOWN, message kept
anything else                                   INTERNAL, message replaced (logged server-side)
==============================================  ==========================================

:data:`API_STATUSES` holds the API layer's own errors (authentication, field masks, times on
the wire); every service's table extends it, so every client knows them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc

from darkroom.api.error_tables import BUILTIN_MEANINGS, nearest
from darkroom.api.errors import (
    ApiError,
    InvalidCursor,
    InvalidFieldMask,
    InvalidTime,
    MissingUpdateMask,
    ServiceUnavailable,
    Unauthenticated,
)
from darkroom.errors import DarkroomError

__all__ = [
    "API_STATUSES",
    "ERROR_FIELD_KEY",
    "ERROR_MESSAGE_KEY",
    "ERROR_TYPE_KEY",
    "Status",
    "StatusTable",
    "abort",
    "error_from_rpc",
    "error_from_status",
    "status_for",
]

_log = logging.getLogger(__name__)

ERROR_TYPE_KEY = "darkroom-error-type"
ERROR_FIELD_KEY = "darkroom-error-field"
# The exact message as UTF-8 (binary metadata); ``details`` is for humans and other clients.
ERROR_MESSAGE_KEY = "darkroom-error-message-bin"

Code = grpc.StatusCode
ErrorClass = type[DarkroomError]

_BY_BUILTIN: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = tuple(
    zip(
        BUILTIN_MEANINGS, (Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.PERMISSION_DENIED, Code.UNAVAILABLE), strict=True
    )
)


@dataclass(frozen=True, slots=True)
class StatusTable:
    """How one service's errors travel.

    ``codes``: error class -> status code (the nearest class in an error's MRO wins). ``errors``:
    class name -> class, the errors a client rebuilds from a status's metadata. ``by_code``: the
    error a client raises for a status without a Darkroom error type (from grpc itself, a proxy,
    another server), else ``default``. Build one with :meth:`extend`.
    """

    codes: Mapping[type[BaseException], grpc.StatusCode] = field(default_factory=dict)
    errors: Mapping[str, ErrorClass] = field(default_factory=dict)
    by_code: Mapping[grpc.StatusCode, ErrorClass] = field(default_factory=dict)
    default: ErrorClass = DarkroomError

    def extend(
        self,
        *,
        codes: Mapping[type[BaseException], grpc.StatusCode] | None = None,
        errors: Iterable[ErrorClass] = (),
        by_code: Mapping[grpc.StatusCode, ErrorClass] | None = None,
        default: ErrorClass | None = None,
    ) -> StatusTable:
        """This table with more (or other) entries. Every class named in ``codes``, ``by_code`` or
        ``default`` also travels by name; two classes of one name are refused (ValueError)."""
        codes = dict(codes or {})
        by_code = dict(by_code or {})
        known = dict(self.errors)
        named = [*errors, *(c for c in codes if issubclass(c, DarkroomError)), *by_code.values()]
        for cls in [*named, *([default] if default else [])]:
            other = known.setdefault(cls.__name__, cls)
            if other is not cls:
                raise ValueError(f"two errors named {cls.__name__!r} in one table: {other!r} and {cls!r}")
        return StatusTable(
            codes={**self.codes, **codes},
            errors=known,
            by_code={**self.by_code, **by_code},
            default=default or self.default,
        )

    def code(self, exc: BaseException) -> grpc.StatusCode:
        """The status code for ``exc`` (a ``DarkroomError``)."""
        code = nearest(exc, self.codes, _BY_BUILTIN)
        return Code.UNKNOWN if code is None else code


API_STATUSES = StatusTable().extend(
    codes={
        Unauthenticated: Code.UNAUTHENTICATED,
        ServiceUnavailable: Code.UNAVAILABLE,
        InvalidFieldMask: Code.INVALID_ARGUMENT,
        InvalidTime: Code.INVALID_ARGUMENT,
        InvalidCursor: Code.INVALID_ARGUMENT,
    },
    errors=(MissingUpdateMask,),
    by_code={
        Code.UNAUTHENTICATED: Unauthenticated,
        Code.PERMISSION_DENIED: Unauthenticated,
        Code.UNAVAILABLE: ServiceUnavailable,
        Code.DEADLINE_EXCEEDED: ServiceUnavailable,
    },
    default=ApiError,
)


@dataclass(frozen=True, slots=True)
class Status:
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def status_for(exc: BaseException, statuses: StatusTable) -> Status:
    """The status for ``exc`` by the service's table ``statuses``."""
    if not isinstance(exc, DarkroomError):
        # a bug or an unexpected library error: log it whole, tell the caller nothing internal
        incident = uuid.uuid4().hex[:12]
        _log.error("internal error %s", incident, exc_info=exc)
        return Status(Code.INTERNAL, f"internal error (incident {incident})", ())
    message = str(exc)
    metadata: list[tuple[str, str | bytes]] = [
        (ERROR_TYPE_KEY, type(exc).__name__),
        (ERROR_MESSAGE_KEY, message.encode("utf-8", "backslashreplace")),
    ]
    field = getattr(exc, "field", None)
    if isinstance(field, str) and field.isascii() and field.isprintable():
        metadata.append((ERROR_FIELD_KEY, field))
    return Status(statuses.code(exc), message, tuple(metadata))


async def abort(context: grpc.aio.ServicerContext, exc: BaseException, statuses: StatusTable) -> NoReturn:
    """End the RPC of ``context`` (a ``grpc.aio.ServicerContext``) with the status of ``exc``."""
    status = status_for(exc, statuses)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # pragma: no cover


def _metadata(pairs: Iterable[Any] | None) -> dict[str, str | bytes]:
    out: dict[str, str | bytes] = {}
    for item in pairs or ():
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        out[key] = value
    return out


def _build(cls: ErrorClass, message: str, field: str | None) -> DarkroomError:
    try:
        return cls(message, field=field)  # type: ignore[call-arg]
    except TypeError:  # a class without ``field``
        return cls(message)


def error_from_status(
    code: grpc.StatusCode, details: str | None, trailing_metadata: Iterable[Any] | None, statuses: StatusTable
) -> DarkroomError:
    """The typed error a status stands for: the server's own class when it sent one that
    ``statuses`` knows, else the table's error for ``code``."""
    meta = _metadata(trailing_metadata)
    message = details or ""
    raw = meta.get(ERROR_MESSAGE_KEY)
    if isinstance(raw, bytes):
        message = raw.decode("utf-8", "replace")
    field = meta.get(ERROR_FIELD_KEY)
    field = field if isinstance(field, str) else None
    cls = statuses.errors.get(str(meta.get(ERROR_TYPE_KEY, "")))
    if cls is None:
        name = getattr(code, "name", str(code))
        return _build(statuses.by_code.get(code, statuses.default), f"{name}: {message}" if message else name, field)
    return _build(cls, message, field)


def error_from_rpc(error: grpc.RpcError, statuses: StatusTable) -> DarkroomError:
    """The typed error behind a failed call (``grpc.RpcError`` or ``grpc.aio.AioRpcError``)."""
    code = error.code() if hasattr(error, "code") else Code.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    return error_from_status(code, details, trailing, statuses)
