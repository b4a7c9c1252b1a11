"""The one place where Darkroom errors become gRPC statuses, and statuses become errors again.

Server side, :func:`status_for` picks the code and puts the exception's class name and offending
field in trailing metadata; client side, :func:`error_from_rpc` rebuilds the same typed exception
with the same message, so code written against ``RedisQueue`` catches the same errors over gRPC.

Choices (by meaning, per the gRPC status guide):

==============================================  ==========================================
``QueueNotFound``, ``MessageNotFound``          NOT_FOUND
``InvalidArgument`` and subclasses, field masks INVALID_ARGUMENT
``PayloadTooLarge``                             INVALID_ARGUMENT: the queue's limit is part of
                                                its contract and the same request never
                                                succeeds; RESOURCE_EXHAUSTED is kept for quotas
                                                and rate limits, which a retry may pass
``Conflict``                                    FAILED_PRECONDITION (the message is in the
                                                wrong state); ALREADY_EXISTS where the caller
                                                says a conflict means "exists with other
                                                content" (Enqueue, CreateQueue)
``LeaseLost``                                   FAILED_PRECONDITION
``QueueDamaged``                                DATA_LOSS (a queue key is not what the queue
                                                wrote; nothing was changed)
``Unauthenticated``                             UNAUTHENTICATED
``Unavailable``                                 UNAVAILABLE
other errors that inherit a builtin             ValueError -> INVALID_ARGUMENT, LookupError ->
                                                NOT_FOUND, PermissionError -> PERMISSION_DENIED,
                                                ConnectionError -> UNAVAILABLE
any other ``DarkroomError``                     UNKNOWN, message kept
anything else                                   INTERNAL, message replaced (logged server-side)
==============================================  ==========================================
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from darkroom.api.errors import ApiError, InvalidFieldMask, MissingUpdateMask
from darkroom.errors import DarkroomError
from darkroom.queue.errors import (
    Conflict,
    InvalidArgument,
    InvalidCriteria,
    InvalidMessage,
    LeaseLost,
    MessageNotFound,
    PayloadTooLarge,
    QueueDamaged,
    QueueError,
    QueueNotFound,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "ERROR_FIELD_KEY",
    "ERROR_MESSAGE_KEY",
    "ERROR_TYPE_KEY",
    "Status",
    "abort",
    "error_from_rpc",
    "error_from_status",
    "register",
    "status_for",
]

_log = logging.getLogger(__name__)

ERROR_TYPE_KEY = "darkroom-error-type"
ERROR_FIELD_KEY = "darkroom-error-field"
# The exact message as UTF-8 (binary metadata); ``details`` is for humans and other clients.
ERROR_MESSAGE_KEY = "darkroom-error-message-bin"

Code = grpc.StatusCode

_BY_CLASS: dict[type[BaseException], Any] = {
    Unauthenticated: Code.UNAUTHENTICATED,
    Unavailable: Code.UNAVAILABLE,
    QueueNotFound: Code.NOT_FOUND,
    MessageNotFound: Code.NOT_FOUND,
    PayloadTooLarge: Code.INVALID_ARGUMENT,
    InvalidArgument: Code.INVALID_ARGUMENT,
    InvalidFieldMask: Code.INVALID_ARGUMENT,
    Conflict: Code.FAILED_PRECONDITION,
    LeaseLost: Code.FAILED_PRECONDITION,
    QueueDamaged: Code.DATA_LOSS,
}
_BY_BUILTIN: tuple[tuple[type[BaseException], Any], ...] = (
    (ValueError, Code.INVALID_ARGUMENT),
    (LookupError, Code.NOT_FOUND),
    (PermissionError, Code.PERMISSION_DENIED),
    (ConnectionError, Code.UNAVAILABLE),
)
_KNOWN: dict[str, type[DarkroomError]] = {
    cls.__name__: cls
    for cls in (
        ApiError,
        Conflict,
        InvalidArgument,
        InvalidCriteria,
        InvalidFieldMask,
        InvalidMessage,
        LeaseLost,
        MessageNotFound,
        MissingUpdateMask,
        PayloadTooLarge,
        QueueDamaged,
        QueueError,
        QueueNotFound,
        Unauthenticated,
        Unavailable,
    )
}
# A status without our metadata (from grpc itself, a proxy, another server) -> the nearest error.
_BY_CODE: dict[Any, type[QueueError]] = {
    Code.UNAUTHENTICATED: Unauthenticated,
    Code.PERMISSION_DENIED: Unauthenticated,
    Code.UNAVAILABLE: Unavailable,
    Code.DEADLINE_EXCEEDED: Unavailable,
    Code.INVALID_ARGUMENT: InvalidArgument,
    Code.OUT_OF_RANGE: InvalidArgument,
    Code.RESOURCE_EXHAUSTED: InvalidArgument,
    Code.NOT_FOUND: QueueError,
    Code.ALREADY_EXISTS: Conflict,
    Code.FAILED_PRECONDITION: Conflict,
    Code.ABORTED: Conflict,
    Code.DATA_LOSS: QueueDamaged,
}


def register(cls: type[DarkroomError], code: Any = None) -> None:
    """Make another package's error travel: known by name to clients, and mapped to ``code``.

    The class must accept ``cls(message)`` (and ``field=`` if it has a ``field`` attribute).
    """
    _KNOWN[cls.__name__] = cls
    if code is not None:
        _BY_CLASS[cls] = code


@dataclass(frozen=True, slots=True)
class Status:
    code: Any  # grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def _code(exc: BaseException) -> Any:
    for cls in type(exc).__mro__:
        if cls in _BY_CLASS:
            return _BY_CLASS[cls]
    for builtin, code in _BY_BUILTIN:
        if isinstance(exc, builtin):
            return code
    return Code.UNKNOWN


def status_for(exc: BaseException, *, conflict: Any = Code.FAILED_PRECONDITION) -> Status:
    """The status for ``exc``. ``conflict`` is what a :class:`Conflict` means at this call site."""
    if not isinstance(exc, DarkroomError):
        # a bug or an unexpected library error: log it whole, tell the caller nothing internal
        incident = uuid.uuid4().hex[:12]
        _log.error("internal error %s", incident, exc_info=exc)
        return Status(Code.INTERNAL, f"internal error (incident {incident})", ())
    code = conflict if isinstance(exc, Conflict) else _code(exc)
    message = str(exc)
    metadata: list[tuple[str, str | bytes]] = [
        (ERROR_TYPE_KEY, type(exc).__name__),
        (ERROR_MESSAGE_KEY, message.encode("utf-8", "backslashreplace")),
    ]
    field = getattr(exc, "field", None)
    if isinstance(field, str) and field.isascii() and field.isprintable():
        metadata.append((ERROR_FIELD_KEY, field))
    return Status(code, message, tuple(metadata))


async def abort(context: Any, exc: BaseException, *, conflict: Any = Code.FAILED_PRECONDITION) -> NoReturn:
    """End the RPC of ``context`` (a ``grpc.aio.ServicerContext``) with the status of ``exc``."""
    status = status_for(exc, conflict=conflict)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # pragma: no cover


def _metadata(pairs: Iterable[Any] | None) -> dict[str, str | bytes]:
    out: dict[str, str | bytes] = {}
    for item in pairs or ():
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        out[key] = value
    return out


def error_from_status(code: Any, details: str | None, trailing_metadata: Iterable[Any] | None) -> DarkroomError:
    """The typed error a status stands for (the server's own class when it sent one)."""
    meta = _metadata(trailing_metadata)
    message = details or ""
    raw = meta.get(ERROR_MESSAGE_KEY)
    if isinstance(raw, bytes):
        message = raw.decode("utf-8", "replace")
    field = meta.get(ERROR_FIELD_KEY)
    field = field if isinstance(field, str) else None
    cls = _KNOWN.get(str(meta.get(ERROR_TYPE_KEY, "")))
    if cls is None:
        fallback = _BY_CODE.get(code, QueueError)
        name = getattr(code, "name", str(code))
        return fallback(f"{name}: {message}" if message else name, field=field)
    try:
        return cls(message, field=field)  # type: ignore[call-arg]
    except TypeError:
        return cls(message)


def error_from_rpc(error: grpc.RpcError) -> DarkroomError:
    """The typed error behind a failed call (``grpc.RpcError`` or ``grpc.aio.AioRpcError``)."""
    code = error.code() if hasattr(error, "code") else Code.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    return error_from_status(code, details, trailing)
